from __future__ import annotations

import pytest
import torch

from recaug.models.config import ModelConfig
from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.gru4rec import GRU4Rec
from recaug.models.layers import ItemFeatures, log_bucket

N = 30


def features(num_items: int = N, text_dim: int = 8) -> ItemFeatures:
    g = torch.Generator().manual_seed(0)
    f = ItemFeatures.empty(num_items, text_dim, max_categories=2)
    f.text = torch.randn(num_items + 1, text_dim, generator=g)
    f.text[0] = 0
    f.categories = torch.randint(1, 4, (num_items + 1, 2), generator=g)
    f.num_categories = 3
    f.brand = torch.randint(0, 3, (num_items + 1,), generator=g)
    f.num_brands = 2
    f.price_bucket = torch.randint(0, 5, (num_items + 1,), generator=g)
    f.train_count = torch.randint(0, 50, (num_items + 1,), generator=g)
    f.train_count[-1] = 0  # a cold item
    return f


def model(**overrides) -> FusionSASRec:
    torch.manual_seed(0)
    return FusionSASRec(ModelConfig(hidden_size=16, num_heads=2, max_length=10, **overrides), N, features()).eval()


def batch():
    history = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    times = torch.tensor([[0, 0, 1_000, 1_060, 5_000], [10, 20, 30, 40, 90_000]])
    return history, times, torch.tensor([6_000, 100_000])


def test_shapes_and_scoring_interface():
    m = model()
    history, times, now = batch()
    user = m.user_vector(history, times, now)
    items = m.item_matrix()
    # H' = hidden size + the text channel's principal components (min(64, text_dim 8)) + the cold-boost column
    assert user.shape == (2, 16 + 8 + 1) and items.shape == (N + 1, 16 + 8 + 1)
    assert torch.all(items[0] == 0)
    plain = model(text_channel=False)
    assert plain.user_vector(history, times, now).shape == (2, 16) and plain.item_matrix().shape == (N + 1, 16)
    assert torch.allclose(m.score(history, times, now), user @ items.T, atol=1e-6)


def test_left_padding_does_not_change_the_user_vector():
    m = model()
    history, times, now = batch()
    short = m.user_vector(history[:1, 2:], times[:1, 2:], now[:1])
    padded = m.user_vector(history[:1], times[:1], now[:1])
    longer_pad = m.user_vector(torch.nn.functional.pad(history[:1], (4, 0)), torch.nn.functional.pad(times[:1], (4, 0)), now[:1])
    assert torch.allclose(short, padded, atol=1e-5) and torch.allclose(short, longer_pad, atol=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"text_channel": False}, {"use_time": False, "num_layers": 3}])
def test_encode_last_is_the_last_position_of_encode(overrides):
    m = model(**overrides)
    history, times, _ = batch()
    items = m.item_matrix()
    assert torch.allclose(m.encode_last(history, times, items), m.encode(history, times, items)[:, -1], atol=1e-6)


def test_attention_is_causal():
    m = model()
    history, times, _ = batch()
    items = m.item_matrix()
    hidden = m.encode(history, times, items)
    changed = history.clone()
    changed[:, -1] = 7
    hidden_changed = m.encode(changed, times, items)
    assert torch.allclose(hidden[:, :-1], hidden_changed[:, :-1], atol=1e-6)
    assert not torch.allclose(hidden[:, -1], hidden_changed[:, -1])


def test_time_changes_the_user_vector_only_when_enabled():
    history, times, now = batch()
    timed, untimed = model(), model(use_time=False)
    for m, should_change in ((timed, True), (untimed, False)):
        base = m.user_vector(history, times, now)
        later = m.user_vector(history, times, now + 10_000_000)
        assert (not torch.allclose(base, later)) == should_change


def test_cold_items_are_built_from_content():
    m = model()
    cold = N  # train_count 0
    before = m.item_matrix()[cold].clone()
    m.items.text[cold] += 1.0
    assert not torch.allclose(m.item_matrix()[cold], before)
    # the frequency gate shrinks the ID part for cold items relative to popular ones
    gate = torch.sigmoid(m.items.gate_scale * torch.log1p(m.items.train_count.float()) + m.items.gate_shift)
    assert gate[cold] < gate[m.items.train_count.argmax()]
    id_only = model(use_text=False, use_attributes=False)
    assert torch.allclose(id_only.item_matrix(), id_only.items.id_embedding.weight)


def test_text_channel_ranks_unseen_items_by_similarity_to_the_history():
    m = model(use_attributes=False)
    text = m.text_channel.reduced_text
    assert torch.allclose(text[1:].norm(dim=1), torch.ones(N), atol=1e-5) and torch.all(text[0] == 0)
    history, times, now = torch.tensor([[4, 5]]), torch.tensor([[1_000, 2_000]]), torch.tensor([3_000])
    user = m.user_vector(history, times, now)[0, 16:-1]
    # the profile is the normalised decayed mean: the newest event weighs 1, the one before 0.5
    expected = torch.nn.functional.normalize(0.5 * text[4] + text[5], dim=0) * m.text_channel.log_alpha.exp()
    assert torch.allclose(user, expected, atol=1e-5)
    # rarer items get a larger text weight, and an item with text near the profile outscores one far from it
    weights = m.item_matrix()[1:, 16:-1].norm(dim=1)
    counts = m.items.train_count[1:]
    assert weights[counts.argmin()] > weights[counts.argmax()]
    text_scores = m.item_matrix()[:, 16:-1] @ user
    assert text_scores[5] > text_scores[int(torch.argmin(text[1:] @ text[5])) + 1]


def test_cold_boost_adds_bias_and_text_similarity_to_cold_items_only():
    m = model(use_attributes=False)
    history, times, now = batch()
    before = m.score(history, times, now)
    m.text_channel.set_cold_boost(cold_count=5, bias=1.5, similarity=2.0)
    after = m.score(history, times, now)
    cold = m.items.train_count < 5
    assert cold[1:].any() and (~cold[1:]).any()
    assert torch.allclose(after[:, ~cold], before[:, ~cold], atol=1e-5)
    profile = m.user_vector(history, times, now)[:, 16:-1] / m.text_channel.log_alpha.exp()
    similarity = profile @ m.text_channel.reduced_text.T  # cos(unit profile, unit item text)
    expected = before + cold.float() * (1.5 + 2.0 * similarity)
    cold[0] = False  # padding stays zero
    assert torch.allclose(after[:, cold], expected[:, cold], atol=1e-4)


def test_a_model_saved_before_the_cold_boost_existed_loads_without_one():
    boosted = model()
    boosted.text_channel.set_cold_boost(cold_count=5, bias=1.0, similarity=1.0)
    old_state = {k: v for k, v in model().state_dict().items() if ".cold_" not in k}
    boosted.load_state_dict(old_state)  # strict
    assert float(boosted.text_channel.cold_bias) == float(boosted.text_channel.cold_similarity) == 0.0
    assert torch.allclose(boosted.item_matrix(), model().item_matrix())


def test_text_channel_needs_text_embeddings():
    torch.manual_seed(0)
    no_text = FusionSASRec(ModelConfig(hidden_size=16, num_heads=2, max_length=10), N, features(text_dim=0))
    assert no_text.text_channel is None and no_text.item_matrix().shape == (N + 1, 16)


def test_id_dropout_only_in_training():
    m = model(id_dropout=0.5)
    assert torch.equal(m.item_matrix(), m.item_matrix())
    m.train()
    torch.manual_seed(1)
    assert not torch.equal(m.item_matrix(), m.item_matrix())


def test_log_buckets():
    seconds = torch.tensor([-5, 0, 1, 3, 1_000_000_000_000])
    assert log_bucket(seconds, 32).tolist() == [1, 1, 2, 3, 31]


def test_gru4rec_scores_all_items():
    torch.manual_seed(0)
    m = GRU4Rec(ModelConfig(hidden_size=16, num_layers=1), N).eval()
    history, times, now = batch()
    assert m.score(history, times, now).shape == (2, N + 1)


def test_hidden_size_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        FusionSASRec(ModelConfig(hidden_size=10, num_heads=3), N, features())


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["fusion", "gru4rec"])
def test_onnx_export_with_dynamic_batch_and_length_matches_torch(tmp_path, model_type):
    import numpy as np
    import onnxruntime as ort

    torch.set_num_threads(1)
    m = model() if model_type == "fusion" else GRU4Rec(ModelConfig(hidden_size=16, num_layers=1), N).eval()
    if model_type == "fusion":
        m.text_channel.set_cold_boost(cold_count=5, bias=1.0, similarity=2.0)

    class Scores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = m

        def forward(self, history, timestamps, now):
            return self.model.user_vector(history, timestamps, now) @ self.model.item_matrix().T

    history, times, now = batch()
    b, length = torch.export.Dim("batch"), torch.export.Dim("length")
    path = tmp_path / "model.onnx"
    torch.onnx.export(Scores(), (history, times, now), str(path), dynamo=True,
                      dynamic_shapes=({0: b, 1: length}, {0: b, 1: length}, {0: b}))
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    g = torch.Generator().manual_seed(3)
    for size, steps in ((1, 3), (4, 17)):
        h = torch.randint(0, N + 1, (size, steps), generator=g)
        t = torch.sort(torch.randint(1, 10**9, (size, steps), generator=g), dim=1).values
        n = t[:, -1] + 3600
        onnx_scores = session.run(None, dict(zip(names, (h.numpy(), t.numpy(), n.numpy()))))[0]
        with torch.inference_mode():
            expected = Scores()(h, t, n).numpy()
        assert np.abs(onnx_scores - expected).max() < 1e-4
