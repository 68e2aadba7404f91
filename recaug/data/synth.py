"""A synthetic marketplace with the structure a time-aware sequential recommender
should find, written as daily landing batches.

What is planted, and why:
- Items belong to latent topics; titles, descriptions, tags, categories, brand and
  price are written from each topic's vocabulary, so text predicts the topic (and the
  product type) of an item that has no interactions yet.
- Within a topic, items form a chain ordered by product type; inside a session the next
  event is often a successor of the previous item (a complement), otherwise an item of
  the same topic by popularity, otherwise a topic switch that follows a topic Markov
  chain or the user's mixture. This sequential signal is what MostPop cannot use.
- Item popularity follows a Zipf law; a share of items is listed only later (cold
  start) with a short novelty boost, so late items have few events but still appear.
- Users sign up over time, have log-normal activity (many with only a handful of
  events) and topic mixtures that drift from a start mixture to an end mixture.
- Sessions start with a time-of-day rhythm (evening peak, quiet nights) and weekly
  rhythm (busier weekends); volume grows over the period.

Everything is drawn from RNG streams keyed by (seed, day), so the same seed gives the
same bytes, and days are generated one at a time: memory is bounded by the busiest
day, whatever the total size.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
from pydantic import BaseModel

from recaug.data.config import SynthConfig
from recaug.data.schemas import INTERACTIONS, ITEMS, MULTI_VALUE_SEPARATOR, USERS, conform
from recaug.errors import ConfigError

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
# Relative chance that a session starts in each UTC hour: quiet nights, lunch bump, evening peak.
HOUR_PROFILE = np.array([
    0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.5, 1.0, 1.4, 1.5, 1.5, 1.7,
    2.0, 1.9, 1.6, 1.5, 1.6, 1.9, 2.4, 3.0, 3.3, 3.0, 2.1, 1.2,
])
WEEKDAY_FACTOR = np.array([0.95, 0.9, 0.92, 0.95, 1.05, 1.3, 1.35])  # Monday first
REGIONS = ("north", "south", "east", "west", "central", "coast", "mountain", "islands")
_STREAM_CATALOG, _STREAM_DAY, _STREAM_SEGMENT = 0, 1, 2


@dataclass(frozen=True)
class Theme:
    name: str
    nouns: tuple[str, ...]  # product types, also the subcategory
    adjectives: tuple[str, ...]
    tags: tuple[str, ...]
    brands: tuple[str, ...]
    uses: tuple[str, ...]
    price: float  # median price


THEMES = (
    Theme("Running", ("running shoe", "trail runner", "running jacket", "GPS watch", "compression sock", "hydration vest"),
          ("lightweight", "breathable", "cushioned", "reflective", "waterproof", "responsive", "grippy", "fast"),
          ("marathon", "5k", "trail", "tempo", "long run", "race day", "cushioning", "pace"),
          ("Stridex", "Pacewell", "TrailFox", "Kilometer"), ("daily training runs", "race day", "muddy trails", "long distance"), 90),
    Theme("Coffee", ("espresso machine", "burr grinder", "pour-over kettle", "coffee beans", "milk frother", "french press"),
          ("single-origin", "freshly roasted", "stainless", "programmable", "aromatic", "barista-grade", "dark", "smooth"),
          ("espresso", "latte", "arabica", "roast", "crema", "brew", "caffeine", "barista"),
          ("Roastery Nine", "Crema Co", "BrewLab", "Bean & Bar"), ("morning espresso", "slow pour-over", "cafe-style lattes", "cold brew"), 45),
    Theme("Camping", ("dome tent", "sleeping bag", "camping stove", "headlamp", "sleeping pad", "camp lantern"),
          ("ultralight", "four-season", "packable", "weatherproof", "insulated", "rugged", "compact", "durable"),
          ("backpacking", "outdoors", "wilderness", "campfire", "hiking", "overnight", "basecamp", "trekking"),
          ("Summit Gear", "Pinecrest", "WildTrail", "Basecamp"), ("backcountry trips", "family camping", "cold nights", "alpine hikes"), 120),
    Theme("Kitchen", ("cast iron skillet", "chef's knife", "dutch oven", "stand mixer", "cutting board", "saucepan"),
          ("nonstick", "forged", "enameled", "heavy-duty", "dishwasher-safe", "precision", "ceramic", "professional"),
          ("cooking", "chef", "baking", "meal prep", "searing", "recipes", "cookware", "kitchen"),
          ("IronHearth", "Culina", "Sharpline", "Potluck"), ("weeknight dinners", "searing steaks", "baking bread", "meal prep"), 70),
    Theme("Gaming", ("mechanical keyboard", "gaming mouse", "wireless controller", "gaming headset", "game console", "mouse pad"),
          ("RGB", "low-latency", "wireless", "ergonomic", "high-refresh", "programmable", "surround", "tournament-grade"),
          ("esports", "fps", "rpg", "multiplayer", "streaming", "console", "pc gaming", "controller"),
          ("Pixelforge", "NeonByte", "Respawn Labs", "Critical Hit"), ("competitive matches", "long raids", "streaming sessions", "couch co-op"), 80),
    Theme("Fantasy Books", ("novel", "hardcover edition", "box set", "paperback", "illustrated edition", "audiobook"),
          ("epic", "enchanted", "dark", "bestselling", "award-winning", "mythic", "sweeping", "magical"),
          ("dragons", "magic", "quest", "kingdoms", "wizards", "sword", "prophecy", "elves"),
          ("Emberlight Press", "Quill & Crown", "Runestone Books", "Starfall"), ("reading before bed", "long journeys", "book clubs", "gift giving"), 18),
    Theme("Skincare", ("face serum", "moisturizer", "gentle cleanser", "sunscreen", "eye cream", "toner"),
          ("hydrating", "fragrance-free", "vitamin C", "hyaluronic", "gentle", "brightening", "mineral", "soothing"),
          ("skincare", "glow", "sensitive skin", "spf", "hydration", "anti-aging", "routine", "dermatologist"),
          ("Dewlab", "Purely Skin", "Lumiere", "Botanica"), ("morning routines", "sensitive skin", "sunny days", "night repair"), 28),
    Theme("Gardening", ("pruning shears", "seed kit", "raised bed", "watering can", "garden hose", "trowel"),
          ("heirloom", "organic", "galvanized", "self-watering", "heavy-duty", "biodegradable", "ergonomic", "weather-resistant"),
          ("garden", "plants", "vegetables", "herbs", "compost", "flowers", "soil", "harvest"),
          ("Greenthumb", "Rootwise", "Bloom & Co", "Terra"), ("spring planting", "herb gardens", "balcony pots", "harvest season"), 30),
    Theme("Photography", ("mirrorless camera", "prime lens", "carbon tripod", "camera bag", "ring light", "memory card"),
          ("full-frame", "fast-aperture", "stabilized", "weather-sealed", "compact", "high-resolution", "portable", "professional"),
          ("photography", "portrait", "landscape", "bokeh", "lens", "shutter", "studio", "travel photos"),
          ("Aperture One", "Lumen Optics", "Focal Point", "Shutterly"), ("portrait sessions", "landscape shots", "travel photography", "studio work"), 300),
    Theme("Yoga", ("yoga mat", "yoga block", "meditation cushion", "yoga strap", "leggings", "yoga towel"),
          ("non-slip", "eco-friendly", "cork", "stretchy", "cushioned", "calming", "breathable", "balanced"),
          ("yoga", "mindfulness", "flexibility", "meditation", "stretching", "pilates", "balance", "flow"),
          ("Zenflow", "Lotus Lane", "Asana Works", "Breathe"), ("morning flows", "hot yoga", "meditation practice", "stretching"), 35),
    Theme("Baby", ("baby bottle", "stroller", "crib mattress", "teething toy", "baby monitor", "diaper bag"),
          ("BPA-free", "soft", "foldable", "hypoallergenic", "gentle", "convertible", "washable", "safe"),
          ("newborn", "infant", "nursery", "toddler", "parenting", "feeding", "sleep", "baby shower"),
          ("Little Sprout", "Cuddle Co", "Tiny Steps", "Nestling"), ("newborn care", "night feeds", "daily walks", "nap time"), 50),
    Theme("Pets", ("dog leash", "cat tree", "pet bed", "chew toy", "aquarium filter", "grain-free treats"),
          ("durable", "washable", "orthopedic", "interactive", "natural", "chew-proof", "cozy", "quiet"),
          ("dog", "cat", "puppy", "kitten", "pet care", "treats", "fish tank", "walks"),
          ("Pawsome", "Whisker & Tail", "FetchCo", "Aquaria"), ("daily walks", "playtime", "senior pets", "training"), 25),
    Theme("Music", ("acoustic guitar", "digital piano", "audio interface", "studio microphone", "guitar strings", "effects pedal"),
          ("handcrafted", "warm-sounding", "weighted", "low-noise", "vintage", "studio-grade", "bright", "resonant"),
          ("guitar", "piano", "recording", "songwriting", "chords", "studio", "amp", "practice"),
          ("Resonance", "Fretwell", "Keystone Audio", "Tonewood"), ("home recording", "live gigs", "daily practice", "songwriting"), 220),
    Theme("Cycling", ("road bike", "bike helmet", "bike light", "repair kit", "cycling jersey", "bike lock"),
          ("aero", "carbon", "rechargeable", "puncture-resistant", "lightweight", "visible", "aerodynamic", "sturdy"),
          ("cycling", "road", "commute", "gravel", "mtb", "peloton", "climbing", "bike"),
          ("Velocita", "Spoke & Chain", "Gravelworks", "Cadence"), ("daily commutes", "gravel rides", "hill climbs", "group rides"), 150),
    Theme("Home Office", ("standing desk", "office chair", "desk lamp", "monitor arm", "cable organizer", "notebook"),
          ("adjustable", "ergonomic", "minimalist", "dimmable", "sturdy", "space-saving", "quiet", "modular"),
          ("work from home", "productivity", "ergonomics", "desk setup", "focus", "office", "posture", "workspace"),
          ("Deskcraft", "Workwell", "Lumina Office", "Ordo"), ("long workdays", "video calls", "small apartments", "focused work"), 110),
    Theme("Baking", ("sourdough starter", "bread flour", "cake pan", "piping set", "proofing basket", "rolling pin"),
          ("artisan", "stone-ground", "nonstick", "springform", "professional", "rustic", "fine", "reusable"),
          ("sourdough", "pastry", "cakes", "cookies", "bread", "frosting", "dough", "oven"),
          ("Crumb & Co", "Hearthstone", "Flourish", "Sweet Oven"), ("weekend bread", "birthday cakes", "holiday cookies", "pastry practice"), 22),
    Theme("Board Games", ("strategy game", "party game", "jigsaw puzzle", "card game", "expansion pack", "dice set"),
          ("family-friendly", "competitive", "cooperative", "replayable", "quick-playing", "deep", "beautifully illustrated", "tactical"),
          ("board game", "tabletop", "game night", "strategy", "cards", "dice", "puzzle", "party"),
          ("Meeple Works", "Tabletop Forge", "Dicecraft", "Game Night Co"), ("game nights", "family evenings", "parties", "rainy days"), 40),
    Theme("Fitness", ("adjustable dumbbell", "kettlebell", "resistance band", "foam roller", "protein powder", "jump rope"),
          ("adjustable", "heavy-duty", "high-density", "compact", "grippy", "durable", "whey", "portable"),
          ("strength", "workout", "gym", "hiit", "recovery", "muscle", "cardio", "home gym"),
          ("IronCore", "Repwise", "PulseFit", "Titan"), ("home workouts", "strength training", "post-workout recovery", "hiit sessions"), 60),
    Theme("Travel", ("carry-on suitcase", "travel backpack", "packing cubes", "neck pillow", "passport wallet", "travel adapter"),
          ("hardshell", "lightweight", "expandable", "anti-theft", "water-resistant", "compact", "universal", "spinner"),
          ("travel", "flight", "carry-on", "vacation", "backpacking", "airport", "luggage", "weekend trip"),
          ("Wanderly", "Jetset", "Nomad Goods", "Passage"), ("long flights", "weekend trips", "business travel", "city breaks"), 85),
    Theme("Tea", ("loose-leaf tea", "teapot", "matcha whisk", "tea sampler", "infuser", "herbal blend"),
          ("organic", "hand-picked", "fragrant", "ceremonial-grade", "cast iron", "caffeine-free", "smoky", "floral"),
          ("matcha", "oolong", "earl grey", "herbal", "chai", "tea ceremony", "green tea", "loose leaf"),
          ("Leaf & Kettle", "Jade Garden", "Steepwell", "Chai House"), ("quiet afternoons", "tea ceremonies", "evening relaxation", "morning chai"), 20),
)


class SynthSummary(BaseModel):
    out_dir: str
    seed: int
    days: int
    first_day: str
    last_day: str
    interactions: int
    items: int
    users: int
    batches_written: int
    batches_unchanged: int


@dataclass
class DayBatch:
    """One day of the marketplace: the day's events plus the items and users first seen that day."""

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


class Marketplace:
    """The static part of the marketplace (catalogue, users, transition structure),
    drawn once from the seed; `day(d)` draws day d's events from their own RNG stream."""

    def __init__(self, config: SynthConfig):
        self.config = config
        self.start = pd.Timestamp(config.start, tz="UTC").normalize()
        self.themes = THEMES[: config.n_topics]
        rng = np.random.default_rng([config.seed, _STREAM_CATALOG])
        self._build_items(rng)
        self._build_users(rng)
        self.day_volume = self._daily_volume()
        busiest = int(self.day_volume.max())
        if busiest > config.max_rows_per_day:
            raise ConfigError(
                f"data.synth: the busiest day would hold {busiest:,} events, above max_rows_per_day="
                f"{config.max_rows_per_day:,}; raise n_days or max_rows_per_day"
            )
        self.item_width = len(str(config.n_items - 1))
        self.user_width = len(str(config.n_users - 1))

    # -- static structure -------------------------------------------------------------
    def _build_items(self, rng: np.random.Generator) -> None:
        c, k = self.config, self.config.n_topics
        topic_share = rng.dirichlet(np.full(k, 4.0))
        self.item_topic = rng.choice(k, size=c.n_items, p=topic_share)
        self.item_noun = rng.integers(0, 6, size=c.n_items)
        self.item_adj = np.argsort(rng.random((c.n_items, 8)), axis=1)[:, :2]
        self.item_tags = np.argsort(rng.random((c.n_items, 8)), axis=1)[:, :3]
        self.item_brand = rng.integers(0, 4, size=c.n_items)
        self.item_use = np.argsort(rng.random((c.n_items, 4)), axis=1)[:, :2]
        median = np.array([t.price for t in self.themes])[self.item_topic]
        self.item_price = np.round(median * rng.lognormal(0.0, 0.35, size=c.n_items), 2)
        late = rng.random(c.n_items) >= c.initial_item_share
        self.item_arrival = np.where(late, rng.integers(1, max(c.n_days, 2), size=c.n_items), 0).clip(max=c.n_days - 1)
        self.item_arrival[0] = 0  # the first day always has something to sell
        # Zipf popularity over a random ranking of the items.
        rank = rng.permutation(c.n_items)
        self.item_weight = (rank + 1.0) ** -c.popularity_exponent
        # Items grouped by topic (contiguous slices) in chain order: by product type, then random.
        order = np.lexsort((rng.random(c.n_items), self.item_noun, self.item_topic))
        self.topic_order = order
        self.topic_bounds = np.searchsorted(self.item_topic[order], np.arange(k + 1))
        position = np.empty(c.n_items, dtype=np.int64)
        position[order] = np.arange(c.n_items)
        starts = self.topic_bounds[self.item_topic]
        sizes = np.maximum(self.topic_bounds[self.item_topic + 1] - starts, 1)
        offset = position - starts
        # Successors: the next two items in the topic's chain (wrapping around).
        self.successors = np.stack(
            [order[starts + (offset + step) % sizes] for step in (1, 2)], axis=1
        )
        # Topic Markov chain: each topic has one complementary topic it often leads to.
        # (a random cycle through all topics, so no topic leads to itself).
        cycle = rng.permutation(k)
        self.topic_next = np.empty(k, dtype=np.int64)
        self.topic_next[cycle] = np.roll(cycle, -1)

    def _build_users(self, rng: np.random.Generator) -> None:
        c, k = self.config, self.config.n_topics
        late = rng.random(c.n_users) >= c.initial_user_share
        self.user_signup = np.where(late, rng.integers(1, max(c.n_days, 2), size=c.n_users), 0).clip(max=c.n_days - 1)
        self.user_signup[0] = 0  # and someone to buy it
        self.user_activity = rng.lognormal(0.0, c.activity_sigma, size=c.n_users)
        n_pref = min(3, k)
        self.user_topics_start = np.argsort(rng.random((c.n_users, k)), axis=1)[:, :n_pref]
        self.user_mix_start = rng.dirichlet(np.full(n_pref, 0.7), size=c.n_users)
        # The end mixture keeps the main topic and may replace the others.
        self.user_topics_end = self.user_topics_start.copy()
        if n_pref > 1:
            replace = rng.random((c.n_users, n_pref - 1)) < 0.5
            fresh = rng.integers(0, k, size=(c.n_users, n_pref - 1))
            self.user_topics_end[:, 1:] = np.where(replace, fresh, self.user_topics_start[:, 1:])
        self.user_mix_end = rng.dirichlet(np.full(n_pref, 0.7), size=c.n_users)
        self.user_age = rng.integers(18, 75, size=c.n_users)
        self.user_region = rng.integers(0, len(REGIONS), size=c.n_users)
        if c.segment_signal > 0:
            self._segment_users()
        # Users ordered by signup day: the users active on day d are a prefix.
        self.user_order = np.argsort(self.user_signup, kind="stable")
        self.user_cum_activity = np.cumsum(self.user_activity[self.user_order])
        self.users_by_day = np.searchsorted(self.user_signup[self.user_order], np.arange(c.n_days), side="right")

    def _segment_users(self) -> None:
        """With chance `segment_signal`, a user's region and age band are those of their main
        (heaviest starting) topic t: region t mod 8, ages 18 + 12 * (t // 4) to 12 years more.
        Own random stream, so catalogue, mixtures and events stay those of the same seed."""
        c = self.config
        rng = np.random.default_rng([c.seed, _STREAM_SEGMENT])
        follows = rng.random(c.n_users) < c.segment_signal
        main = self.user_topics_start[np.arange(c.n_users), np.argmax(self.user_mix_start, axis=1)]
        self.user_region = np.where(follows, main % len(REGIONS), self.user_region)
        self.user_age = np.where(follows, 18 + 12 * (main // 4) + rng.integers(0, 12, size=c.n_users), self.user_age)

    def _daily_volume(self) -> np.ndarray:
        c = self.config
        days = np.arange(c.n_days)
        weekday = ((self.start.dayofweek + days) % 7).astype(int)
        weight = WEEKDAY_FACTOR[weekday] * (1.0 + 0.3 * days / max(c.n_days - 1, 1))
        exact = c.n_interactions * weight / weight.sum()
        volume = np.floor(exact).astype(np.int64)
        remainder = c.n_interactions - volume.sum()
        volume[np.argsort(-(exact - volume), kind="stable")[:remainder]] += 1
        return volume

    # -- one day ------------------------------------------------------------------------
    def day_name(self, day: int) -> str:
        return (self.start + pd.Timedelta(days=day)).strftime("%Y-%m-%d")

    def day(self, day: int) -> DayBatch:
        rng = np.random.default_rng([self.config.seed, _STREAM_DAY, day])
        events = self._events(day, rng)
        items = self._items_frame(np.flatnonzero(self.item_arrival == day), day)
        users = self._users_frame(np.flatnonzero(self.user_signup == day), day)
        return DayBatch(self.day_name(day), events, items, users)

    def _topic_sampler(self, day: int):
        """Per topic, the cumulative popularity of the items listed by `day` (with novelty boost)."""
        c = self.config
        age = day - self.item_arrival
        weight = np.where(age >= 0, self.item_weight * (1 + c.novelty_boost * np.exp(-np.maximum(age, 0) / c.novelty_days)), 0.0)
        ordered = weight[self.topic_order]
        cum = np.cumsum(ordered)
        bounds = self.topic_bounds
        base = np.concatenate([[0.0], cum])[bounds[:-1]]
        total = cum[np.maximum(bounds[1:] - 1, 0)] - base
        total[bounds[1:] == bounds[:-1]] = 0.0
        return cum, base, total

    def _sample_in_topic(self, topics: np.ndarray, sampler, rng: np.random.Generator) -> np.ndarray:
        cum, base, total = sampler
        # A topic with no listed item yet falls back to the most popular topic today.
        topics = np.where(total[topics] > 0, topics, int(np.argmax(total)))
        target = base[topics] + rng.random(len(topics)) * total[topics]
        pos = np.searchsorted(cum, target, side="right")
        pos = np.clip(pos, self.topic_bounds[topics], self.topic_bounds[topics + 1] - 1)
        return self.topic_order[pos]

    def _user_topic(self, users: np.ndarray, day: int, rng: np.random.Generator) -> np.ndarray:
        progress = day / max(self.config.n_days - 1, 1)
        use_end = rng.random(len(users)) < self.config.drift * progress
        mix = np.where(use_end[:, None], self.user_mix_end[users], self.user_mix_start[users])
        topics = np.where(use_end[:, None], self.user_topics_end[users], self.user_topics_start[users])
        pick = (rng.random(len(users))[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
        return topics[np.arange(len(users)), np.minimum(pick, topics.shape[1] - 1)]

    def _events(self, day: int, rng: np.random.Generator) -> pd.DataFrame:
        c = self.config
        volume = int(self.day_volume[day])
        # Sessions: lengths 1 + geometric, until the day's volume is reached.
        n_sessions = max(1, int(volume / c.mean_session_length * 1.2) + 8)
        lengths = rng.geometric(1.0 / c.mean_session_length, size=n_sessions)
        while lengths.sum() < volume:
            lengths = np.concatenate([lengths, rng.geometric(1.0 / c.mean_session_length, size=n_sessions)])
        ends = np.cumsum(lengths)
        n_sessions = int(np.searchsorted(ends, volume) + 1)
        lengths = lengths[:n_sessions].copy()
        lengths[-1] -= ends[n_sessions - 1] - volume
        # Who: activity-weighted among users signed up by today.
        n_active = int(self.users_by_day[day])
        draws = rng.random(n_sessions) * self.user_cum_activity[n_active - 1]
        users = self.user_order[np.searchsorted(self.user_cum_activity[:n_active], draws, side="right").clip(max=n_active - 1)]
        # What: walk each session step by step (vectorised across sessions).
        sampler = self._topic_sampler(day)
        topic = self._user_topic(users, day, rng)
        items = np.full((n_sessions, int(lengths.max())), -1, dtype=np.int64)
        items[:, 0] = self._sample_in_topic(topic, sampler, rng)
        for step in range(1, items.shape[1]):
            alive = np.flatnonzero(lengths > step)
            prev = items[alive, step - 1]
            r = rng.random(len(alive))
            choice = np.empty(len(alive), dtype=np.int64)
            successor = self.successors[prev, (rng.random(len(alive)) < 0.3).astype(int)]
            follow = (r < c.successor_prob) & (self.item_arrival[successor] <= day)
            choice[follow] = successor[follow]
            switch = r >= c.successor_prob + c.same_topic_prob
            if switch.any():
                idx = alive[switch]
                markov = rng.random(len(idx)) < c.complement_topic_prob
                topic[idx] = np.where(markov, self.topic_next[topic[idx]], self._user_topic(users[idx], day, rng))
            rest = ~follow
            choice[rest] = self._sample_in_topic(topic[alive[rest]], sampler, rng)
            items[alive, step] = choice
        # When: a session start from the hour profile, then gaps of ~1.5 minutes; sessions stay within the day.
        hours = rng.choice(24, size=n_sessions, p=HOUR_PROFILE / HOUR_PROFILE.sum())
        starts = hours * 3600 + rng.integers(0, 3600, size=n_sessions)
        gaps = 10 + rng.exponential(80.0, size=items.shape)
        gaps[:, 0] = 0
        offsets = np.cumsum(gaps, axis=1).astype(np.int64)
        duration = offsets[np.arange(n_sessions), lengths - 1]
        starts = np.minimum(starts, DAY_SECONDS - 1 - duration)
        mask = items >= 0
        session_of = np.broadcast_to(np.arange(n_sessions)[:, None], items.shape)[mask]
        seconds = (starts[:, None] + offsets)[mask]
        step_of = np.broadcast_to(np.arange(items.shape[1])[None, :], items.shape)[mask]
        last = step_of == lengths[session_of] - 1
        u = rng.random(len(seconds))
        event = np.where(u < np.where(last, 0.15, 0.02), "purchase", np.where(u < np.where(last, 0.3, 0.1), "add_to_cart", "view"))
        seconds = _separate_repeats(users[session_of], items[mask], seconds)
        order = np.argsort(seconds, kind="stable")
        day_start = int((self.start + pd.Timedelta(days=day)).timestamp())
        frame = pd.DataFrame({
            "user_id": self._user_ids(users[session_of][order]),
            "item_id": self._item_ids(items[mask][order]),
            "timestamp": pd.to_datetime(day_start + seconds[order], unit="s", utc=True),
            "event_type": event[order],
        })
        return conform(frame, INTERACTIONS)

    def _item_ids(self, idx: np.ndarray) -> np.ndarray:
        return np.char.add("i", np.char.zfill(idx.astype(str), self.item_width))

    def _user_ids(self, idx: np.ndarray) -> np.ndarray:
        return np.char.add("u", np.char.zfill(idx.astype(str), self.user_width))

    def _items_frame(self, idx: np.ndarray, day: int) -> pd.DataFrame:
        rows = []
        for i in idx:
            theme = self.themes[self.item_topic[i]]
            adj1, adj2 = (theme.adjectives[a] for a in self.item_adj[i])
            noun = theme.nouns[self.item_noun[i]]
            use1, use2 = (theme.uses[u] for u in self.item_use[i])
            brand = theme.brands[self.item_brand[i]]
            rows.append({
                "item_id": f"i{i:0{self.item_width}d}",
                "title": f"{brand} {_capitalize(adj1)} {_capitalize(noun)}",
                "description": (
                    f"{'An' if adj1[0] in 'aeiou' else 'A'} {adj1}, {adj2} {noun} from {brand}, made for {use1}"
                    + f" and {use2}."
                    + f" Part of our {theme.name.lower()} range."
                ),
                "tags": MULTI_VALUE_SEPARATOR.join(theme.tags[t] for t in self.item_tags[i]),
                "categories": MULTI_VALUE_SEPARATOR.join([theme.name, _capitalize(noun)]),
                "brand": brand,
                "price": float(self.item_price[i]),
                "first_seen": self.start + pd.Timedelta(days=day),
            })
        return conform(pd.DataFrame(rows, columns=ITEMS.names), ITEMS)

    def _users_frame(self, idx: np.ndarray, day: int) -> pd.DataFrame:
        frame = pd.DataFrame({
            "user_id": self._user_ids(idx),
            "age": self.user_age[idx],
            "region": np.asarray(REGIONS, dtype=object)[self.user_region[idx]],
            "first_seen": pd.Series([self.start + pd.Timedelta(days=day)] * len(idx), dtype="datetime64[ns, UTC]"),
        })
        return conform(frame, USERS)


def _separate_repeats(users: np.ndarray, items: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Overlapping sessions of one user may hit one item in the same second; move the
    repeat by a second (towards the middle of the day) so (user, item, time) stays a key."""
    seconds = seconds.copy()
    while True:
        frame = pd.DataFrame({"u": users, "i": items, "s": seconds})
        repeat = frame.duplicated().to_numpy()
        if not repeat.any():
            return seconds
        seconds[repeat] += np.where(seconds[repeat] < DAY_SECONDS // 2, 1, -1)


def _capitalize(words: str) -> str:
    return " ".join(w[0].upper() + w[1:] for w in words.split())


def generate_days(config: SynthConfig) -> Iterator[DayBatch]:
    """Yield the marketplace one day at a time (nothing is kept between days)."""
    market = Marketplace(config)
    for day in range(config.n_days):
        yield market.day(day)


def synthesize(settings, out_dir: str | os.PathLike) -> SynthSummary:
    """Write `settings.data.synth` as daily landing batches `<out_dir>/<YYYY-MM-DD>/`."""
    from recaug.data.landing import write_batch

    config: SynthConfig = settings.data.synth
    totals = {"interactions": 0, "items": 0, "users": 0}
    written = 0
    names = []
    for batch in generate_days(config):
        changed = write_batch(out_dir, batch.name, {
            "interactions": batch.interactions, "items": batch.items, "users": batch.users,
        })
        written += changed
        names.append(batch.name)
        totals["interactions"] += len(batch.interactions)
        totals["items"] += len(batch.items)
        totals["users"] += len(batch.users)
        log.info(
            "synth %s: %d events, %d new items, %d new users (%s)", batch.name, len(batch.interactions),
            len(batch.items), len(batch.users), "written" if changed else "unchanged",
        )
    return SynthSummary(
        out_dir=str(out_dir), seed=config.seed, days=config.n_days, first_day=names[0], last_day=names[-1],
        batches_written=written, batches_unchanged=len(names) - written, **totals,
    )
