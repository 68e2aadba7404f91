"""The run report from a lake holding what the stages write (per docs/STAGES.md)."""

from __future__ import annotations

import base64
import json
import re
from report_lake import lake_after_a_run

from recaug import io
from recaug.report.build import build_report


def test_report_shows_every_section_with_inline_plots(settings):
    lake_after_a_run(settings, "run-7")
    result = build_report(settings, "run-7")
    html = io.read_text(result.html)
    markdown = io.read_text(result.markdown)

    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 3  # test metrics by slice, training curve, task times
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert ("Cold-item boost** (items under 5 fitted events, chosen on validation cases): bias 0.5, text-similarity "
            "weight 3.0; validation NDCG@10 0.1000 -> 0.0950, cold-item HR@10 0.0100 -> 0.0900 (aim 0.0800).") in markdown
    assert "Gate decision: propose for deploy." in markdown
    assert "| live model v2 (re-evaluated on today's data) | run-6 | 0.1000 |" in markdown
    assert "No model is live: no deploy of this lake has succeeded yet." in markdown  # no deploy record in this lake
    for text in ("Data validation", "2026-01-02", "rejected", "items_enriched", "most_pop", "live model",
                 "ndcg@10 improved", "recaug_seq", "fusion_sasrec"):
        assert text in html, text
    # wall = run start -> report start = 20 s; compute = 13 s; overhead 7 s = 35 %
    assert "Wall time 20.0 s; task compute 13.0 s; orchestration overhead 7.0 s = 35%" in markdown
    assert result.timing["overhead_ratio"] == 0.35
    metrics = json.loads(io.read_text(result.metrics))
    assert metrics["model"]["overall"]["ndcg@10"] == 0.125
    assert metrics["most_pop"]["overall"]["hr@10"] == 0.05
    ranking = io.read_text(settings.lake.url("reports", "run-7", "plots", "ranking.csv")).splitlines()
    assert ranking == ["k,hr,ndcg", "5,0.125,0.0625", "10,0.25,0.125"]
    assert io.exists(settings.lake.url("reports", "run-7", "plots", "task_times.png"))


def test_report_of_a_cli_run_without_model_or_timings(settings):
    result = build_report(settings, "cli-run")
    markdown = io.read_text(result.markdown)
    assert "No model was trained in this run." in markdown
    assert "No task timings" in markdown
    assert result.timing is None


def test_report_is_rebuilt_in_place(settings):
    lake_after_a_run(settings, "run-8")
    first = io.read_text(build_report(settings, "run-8").markdown)
    second = io.read_text(build_report(settings, "run-8").markdown)
    strip = lambda text: re.sub(r"Generated .* UTC", "", text)  # noqa: E731
    assert strip(first) == strip(second)


def test_summary_card_says_what_changed_and_why_with_deltas_and_no_lake_paths(settings):
    artifact = lake_after_a_run(settings, "run-9")
    metrics = io.read_json(io.join(artifact, "metrics.json"))
    metrics["history"] = [{"epoch": e, "loss": 5.0 - e, "valid_ndcg@10": 0.05 * e, "valid_hr@10": 0.1 * e,
                           "pruned": 10 * e, "seconds": 2.5} for e in (1, 2, 3)]
    io.write_json(io.join(artifact, "metrics.json"), metrics)
    io.write_text(settings.lake.url("quarantine", "2026-01-02", "data_docs", "index.html"), "<html>GX</html>")
    stats = {"enabled": True, "cache_hits": 4, "items": {"task": "item", "outputs": 10, "llm_prompts": 3, "deferred": 7},
             "profiles": {"task": "profile", "outputs": 7, "llm_prompts": 0, "deferred": 7},
             "interactions": {"task": "pick", "outputs": 3, "rows": 2, "llm_prompts": 0, "deferred": 3}}
    io.write_json(settings.lake.url("augment", "stats.json"), stats)

    result = build_report(settings, "run-9")
    html = io.read_text(result.html)
    markdown = io.read_text(result.markdown)
    card = html.split("<section id='summary' class='card good'>", 1)[1].split("</section>", 1)[0]
    assert "Deployed: recaug_seq version 3 is live" in card and "Gate: ndcg@10 improved." in card
    assert "1 batch(es) accepted (2026-01-01), 0 rejected; curated rows now: interactions 100" in card
    assert "10 item texts, 7 user profiles, 2 augmented interactions; 3 LLM prompts, 4 answers from the cache, " \
           "17 deferred to a later run" in card
    assert "<td>ndcg@10 (validation, the gate&#x27;s metric)</td><td>0.1250</td><td>0.1000</td><td class='delta-up'>+0.0250</td>" in card
    assert "**" not in html.replace("data:image", "")  # Markdown emphasis is rendered, never shown literally
    assert "<strong>overall</strong>" in html and "<strong>Gate decision: propose for deploy.</strong>" in html
    assert "<details><summary>All 2 batches of this lake</summary>" in html
    assert "href='../../quarantine/2026-01-02/data_docs/index.html'" in html
    root = settings.lake.root
    assert root not in html and root not in markdown
    assert "Artifact: `models/run-9`" in markdown
    assert markdown.startswith("# recaug run run-9\n\n> **Deployed: recaug_seq version 3 is live** Gate: ndcg@10 improved.")


def test_training_curve_draws_one_panel_per_unit():
    from recaug.report.build import _curve_panels

    history = [{"epoch": 1, "loss": 4.0, "valid_ndcg@10": 0.1, "pruned": 12, "seconds": 3.0}]
    panels = _curve_panels(history)
    assert [(title, unit, list(series)) for title, unit, series in panels] == [
        ("Training loss", "loss (cross-entropy)", ["loss"]), ("Validation", "score", ["valid_ndcg@10"]),
        ("Pruned augmented samples", "samples per epoch", ["pruned"]), ("Epoch time", "seconds", ["seconds"])]


def test_card_names_a_few_batches_and_the_last_of_many():
    from recaug.report.build import _batch_span

    assert _batch_span(["a", "b", "c", "d"]) == "a, b, c, d"
    assert _batch_span([f"2026-01-{day:02d}" for day in range(1, 31)]) == "2026-01-01, 2026-01-02, 2026-01-03, … 2026-01-30"


def test_report_shows_the_mmr_trade_off_and_the_gate_floors(settings):
    lake_after_a_run(settings, "run-10")
    artifact = settings.lake.url("models", "run-10")
    metrics = io.read_json(io.join(artifact, "metrics.json"))
    metrics["mmr"] = {"k": 10, "candidates": 20, "max_ndcg_loss": 0.02, "chosen_weight": 0.3, **{split: [
        {"weight": 0.0, "ndcg@10": 0.10, "recall@10": 0.2, "diversity@10": 0.40, "coverage@10": 0.05},
        {"weight": 0.3, "ndcg@10": 0.099, "recall@10": 0.2, "diversity@10": 0.45, "coverage@10": 0.06}]
        for split in ("valid", "test")}}
    io.write_json(io.join(artifact, "metrics.json"), metrics)
    gate = io.read_json(io.join(artifact, "gate.json"))
    gate.update(deploy=False, reason=gate["reason"] + "; but coverage@10 0.0600 is below the floor 0.0800 by 0.0200",
                floors=[{"metric": "coverage@10", "floor": 0.08, "value": 0.06, "mmr_weight": 0.3, "passed": False},
                        {"metric": "diversity@10", "floor": 0.3, "value": 0.45, "mmr_weight": 0.3, "passed": True}])
    io.write_json(io.join(artifact, "gate.json"), gate)
    markdown = io.read_text(build_report(settings, "run-10").markdown)
    assert ("requests without `diversity` are re-ranked with weight 0.3, the largest whose validation NDCG@10 stays "
            "within 2% of weight 0's; on validation ndcg@10 0.1000 -> 0.0990, diversity@10 0.4000 -> 0.4500, "
            "coverage@10 0.0500 -> 0.0600.") in markdown
    assert "| 0.3 (default) | 0.0990 | 0.2000 | 0.4500 | 0.0600 | 0.0990 |" in markdown
    assert "Gate decision: keep the live model.** " in markdown and "below the floor 0.0800 by 0.0200" in markdown
    assert "| coverage@10 at MMR weight 0.3 | 0.0600 | 0.0800 | missed by 0.0200 |" in markdown
    assert "| diversity@10 at MMR weight 0.3 | 0.4500 | 0.3000 | met |" in markdown
