"""Texts a faster encoder variant (ONNX, int8, 16-bit torch) must embed like the fp32
torch encoder before it is used.

They cover what catalogues hold: bare titles, titles with years and genres, long
descriptions (truncation), tag lists, numbers, punctuation, accents, other scripts,
and near-empty strings. Single common words are where int8 activations lose the most
(a mean over three tokens averages little error away): with OpenVINO activation groups
of 128 or 192 "Ok" and "Such" fell below 0.99 while every longer item text stayed above.
"""

from __future__ import annotations

import numpy as np

from recaug import io

CALIBRATION_TEXTS: tuple[str, ...] = (
    "Toy Story (1995). Adventure, Animation, Children, Comedy, Fantasy",
    "Heat (1995). Action, Crime, Thriller",
    "Sidewalls (Medianeras) (2011). Drama",
    "Medicine Man (1992). Adventure, Romance",
    "City of Lost Children, The (Cité des enfants perdus, La) (1995). Adventure, Drama, Fantasy, Mystery, Sci-Fi",
    "Wallace & Gromit: The Best of Aardman Animation (1996)",
    "Stainless steel chef's knife, 20 cm blade, full tang. Tags: kitchen|knives|cooking",
    "Wireless noise-cancelling headphones with 30h battery life and USB-C fast charging.",
    "Organic green tea, 100 bags",
    "Kids' waterproof rain jacket (size 6-7), bright yellow, reflective strips",
    "A quiet thriller about a lighthouse keeper who finds a message in a bottle and starts "
    "to doubt everything he knows about the island, its few inhabitants and the storm that "
    "cut them off from the mainland for three weeks in the winter of 1953. " * 3,
    "User who watches late-night sci-fi, rewatches classic noir, and rates comedies low.",
    "Prefers budget running shoes, buys every spring, interested in trail gear and hydration packs.",
    "categories: books|fiction|mystery keywords: detective, 1920s, london, locked room",
    "4K HDR 55\" smart TV — 120 Hz, HDMI 2.1, Dolby Vision",
    "Café au lait mug, hand-made, dishwasher safe",
    "東京の夜景を楽しむガイドブック",
    "Руководство по фотографии для начинающих",
    "¡Oferta! 2x1 en camisetas de algodón",
    "12345",
    "???",
    "a",
    "the",
    "Ok",
    "Yes",
    "Such",
    "um",
    "Untitled",
    "Love & Basketball (2000). Drama, Romance",
    "Bourne Ultimatum, The (2007). Action, Crime, Thriller",
    "Ghost in the Shell: Stand Alone Complex - The Laughing Man (2005). Action, Animation, Crime, Sci-Fi",
    "Planet Earth II (2016). Documentary",
    "vegan protein powder chocolate 1kg; gluten free; no added sugar; 25 g protein per serving",
    "LEGO Technic race car building kit, 1,580 pieces, ages 10+",
    "Noise complaint: neighbour's dog barks all night (tags: pets, sleep, neighbours)",
    "Jazz vinyl reissue: Kind of Blue (1959), 180 g pressing",
)


CHECK_BATCH_SIZE = 8  # small batches exercise several padding lengths


def compare_on_calibration(candidate: np.ndarray, reference: np.ndarray) -> dict:
    """Per-text agreement of two encoders' CALIBRATION_TEXTS vectors: min/mean cosine and the worst text."""
    cosines = row_cosines(candidate, reference)
    worst = int(np.argmin(cosines))
    return {"texts": len(cosines), "min_cosine": float(cosines[worst]), "mean_cosine": float(cosines.mean()),
            "worst_text": CALIBRATION_TEXTS[worst]}


def calibration_hash(texts: tuple[str, ...] = CALIBRATION_TEXTS) -> str:
    return io.content_hash(*texts)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows of two [n, d] arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
