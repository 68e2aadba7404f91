from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.train.dataset import DatasetError, build_sequences


def frame(rows, source="observed"):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    df["source"] = source
    df["confidence"] = 1.0
    return df


EVENTS = [
    ("u1", "a", 10), ("u1", "b", 20), ("u1", "c", 20), ("u1", "d", 30), ("u1", "e", 40),
    ("u2", "b", 5), ("u2", "a", 6),  # two events: fitted only
    ("u3", "c", 1), ("u3", "a", 2), ("u3", "b", 3),
]


def test_leave_one_out_keeps_ties_in_input_order_and_holds_out_last_two():
    data = build_sequences(frame(EVENTS))
    assert data.vocab == [None, "a", "b", "c", "d", "e"]
    u1 = data.users.index("u1")
    assert [data.vocab[i] for i in data.user_items[u1]] == ["a", "b", "c", "d", "e"]
    assert data.fit_end.tolist() == [3, 2, 1]  # u1, u2, u3
    assert len(data.valid) == len(data.test) == 2  # u2 has too few events
    row = list(data.test.users).index(u1)
    assert data.vocab[data.test.targets[row]] == "e"
    assert [data.vocab[i] for i in data.test.histories[row]] == ["a", "b", "c", "d"]
    assert data.test.now[row] == 40
    assert data.vocab[data.valid.targets[list(data.valid.users).index(u1)]] == "d"
    # counts only from fitted events: u1 a,b,c + u2 b,a + u3 c
    assert data.train_counts.tolist() == [0, 2, 2, 2, 0, 0]


def test_temporal_split_tests_first_event_after_cut():
    data = build_sequences(frame(EVENTS), split="temporal", temporal_cut_quantile=0.8)
    # sorted times: 1 2 3 5 6 10 20 20 30 40 -> the cut snaps to the 9th event (t=30)
    u1 = data.users.index("u1")
    assert data.fit_end[u1] == 2 and len(data.test) == 1
    assert data.vocab[data.test.targets[0]] == "d"
    assert [data.vocab[i] for i in data.test.histories[0]] == ["a", "b", "c"]
    assert data.vocab[data.valid.targets[list(data.valid.users).index(u1)]] == "c"


def test_training_windows_use_every_fitted_event_once_as_target():
    rows = [("u", f"i{k:02d}", k) for k in range(12)]
    data = build_sequences(frame(rows))  # 10 fitted events -> 9 targets
    windows = data.training_windows(max_length=4)
    targets = windows.targets[windows.targets > 0]
    assert sorted(targets.tolist()) == list(range(2, 11))
    assert len(windows) == 3
    # each target's input is the event just before it, and time is the target's own time
    last = windows.inputs[:, -1], windows.targets[:, -1]
    assert all(t == i + 1 for i, t in zip(*last))
    newest = data.training_windows(max_length=4, windows_per_user=1)
    assert len(newest) == 1 and newest.targets[0].tolist() == [7, 8, 9, 10]


def test_augmented_rows_are_weighted_flagged_and_never_leak_eval_targets():
    augmented = frame([("u1", "e", 15), ("u1", "c", 99), ("ghost", "a", 1)], source="augmented")
    augmented["confidence"] = [0.9, 0.5, 1.0]
    data = build_sequences(frame(EVENTS), augmented=augmented)
    u1 = data.users.index("u1")
    items, times, confidence = data.augmented[u1]
    assert [data.vocab[i] for i in items] == ["c"]  # "e" is u1's test target; ghost is unknown
    assert times.tolist() == [29]  # moved before u1's validation event at t=30
    windows = data.training_windows(max_length=10, augmented_weight=0.5)
    flagged = windows.augmented & (windows.targets > 0)
    assert flagged.sum() == 1
    assert windows.weights[flagged].tolist() == [pytest.approx(0.25)]
    assert data.training_windows(max_length=10).augmented.sum() == 0


def test_item_attributes_and_text_are_indexed_by_vocabulary():
    items = pd.DataFrame({
        "item_id": ["a", "b", "c"], "title": ["A", "B", "C"], "categories": ["x|y", "y", None],
        "brand": ["p", None, "q"], "price": [1.0, 5.0, np.nan],
    })
    embeddings = pd.DataFrame({"item_id": ["b", "a"], "embedding": [[0.0, 1.0], [1.0, 0.0]]})
    data = build_sequences(frame(EVENTS), items, embeddings, price_buckets=2)
    a, b, c = (data.vocab.index(x) for x in "abc")
    assert data.text[a].tolist() == [1.0, 0.0] and data.text[b].tolist() == [0.0, 1.0]
    assert data.text[c].tolist() == [0.0, 0.0]
    assert data.categories[a][:2].tolist() == [1, 2] and data.categories[b][0] == 2
    assert data.brand[a] == 1 and data.brand[b] == 0 and data.brand[c] == 2
    assert data.price_bucket[a] == 1 and data.price_bucket[b] == 2 and data.price_bucket[c] == 0


def test_bad_inputs_raise_readable_errors():
    with pytest.raises(DatasetError, match="empty"):
        build_sequences(frame([]))
    bad = pd.DataFrame({"item_id": ["a", "b"], "embedding": [[1.0], [1.0, 2.0]]})
    with pytest.raises(DatasetError, match="embeddings/items.parquet.*mixed lengths"):
        build_sequences(frame(EVENTS), item_embeddings=bad)
    with pytest.raises(DatasetError, match="unknown split"):
        build_sequences(frame(EVENTS), split="random")


def test_evaluation_batches_cover_each_case_once_cut_to_their_longest_history():
    rows = [(f"u{n}", f"i{k}", k) for n in range(5) for k in range(3 + 2 * n)]  # histories of 1, 3, 5, 7, 9 events
    cases = build_sequences(frame(rows)).test
    batches = list(cases.batches(batch_size=2, max_length=6))
    assert sorted(np.concatenate([b[0] for b in batches]).tolist()) == list(range(5))
    for row_ids, history, times, now, targets, seen in batches:
        longest = max(len(cases.histories[i]) for i in row_ids)
        assert history.shape == times.shape == (len(row_ids), min(longest, 6))
        assert seen.shape == (len(row_ids), longest)  # masking sees the whole history, not only the model's window
        assert targets.tolist() == cases.targets[row_ids].tolist() and now.tolist() == cases.now[row_ids].tolist()
        for r, i in enumerate(row_ids):
            kept = cases.histories[i][-6:]
            assert history[r, history.shape[1] - len(kept):].tolist() == kept.tolist()
    untrimmed = list(cases.batches(batch_size=2, max_length=6, trim=False))
    assert np.concatenate([b[0] for b in untrimmed]).tolist() == list(range(5))
    assert all(b[1].shape[1] == 6 for b in untrimmed)


def test_first_event_targets_predict_the_first_event_from_an_empty_history():
    data = build_sequences(frame(EVENTS))
    windows = data.training_windows(max_length=4, first_event_targets=True)
    plain = data.training_windows(max_length=4)
    u1 = data.users.index("u1")
    # one more target per user (u1: a b c fitted -> a, b, c; u2: b, a; u3: c)
    assert (windows.targets > 0).sum() == (plain.targets > 0).sum() + len(data.users)
    first = [w for w in range(len(windows)) if windows.users[w] == u1][-1]
    assert windows.targets[first].tolist()[-3:] == [data.vocab.index(x) for x in "abc"]
    assert windows.inputs[first].tolist()[-3:] == [0, data.vocab.index("a"), data.vocab.index("b")]
    assert sorted(set(windows.users.tolist())) == list(range(len(data.users)))


def test_new_users_are_cases_with_empty_histories_at_their_first_event():
    data = build_sequences(frame(EVENTS))
    known = len(data.users)
    cases = data.add_new_users(frame([("n1", "c", 50), ("n1", "a", 60), ("n2", "zz", 55), ("n3", "b", 70), ("u1", "a", 80)]))
    assert data.users[known:] == ["n1", "n3"]  # n2's item is unknown, u1 is not new
    assert cases.users.tolist() == [known, known + 1]
    assert [data.vocab[t] for t in cases.targets] == ["c", "b"] and cases.now.tolist() == [50, 70]
    assert all(len(h) == 0 for h in cases.histories) and data.fit_end[known:].tolist() == [0, 0]
    _, history, times, _, _, seen = next(cases.batches(8, 5))
    assert history.shape == (2, 1) and (history == 0).all() and (times == 0).all() and (seen == 0).all()


def test_validation_sample_draws_the_same_users_whatever_the_row_order_and_keeps_the_test_whole():
    rows = [(f"u{u}", f"i{(u + k) % 7}", k) for u in range(40) for k in range(4)]
    data = build_sequences(frame(rows))
    shuffled = build_sequences(frame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True))
    whole = {(data.users[u], t) for u, t in zip(data.valid.users, data.valid.targets)}
    data.limit_validation(10)
    shuffled.limit_validation(10)
    drawn = [(data.users[u], t) for u, t in zip(data.valid.users, data.valid.targets)]
    assert len(drawn) == 10 and set(drawn) <= whole
    assert {data.users[u] for u in data.valid.users} == {shuffled.users[u] for u in shuffled.valid.users}
    assert len(data.test) == 40 and data.summary()["valid_cases_drawn_from"] == 40
    assert [len(h) for h in data.valid.histories] == [2] * 10

    more = build_sequences(frame(rows + [(f"u{u}", "i1", 9) for u in range(40, 80)] * 3))
    more.limit_validation(20)  # both draws are the lowest hashes of one order: new users never reshuffle the old ones
    before = {data.users[u] for u in data.valid.users}
    after = {more.users[u] for u in more.valid.users} & {f"u{u}" for u in range(40)}
    assert after and (after <= before or before <= after)

    untouched = build_sequences(frame(rows))
    untouched.limit_validation(None)
    untouched.limit_validation(40)
    assert len(untouched.valid) == 40 and "valid_cases_drawn_from" not in untouched.summary()
