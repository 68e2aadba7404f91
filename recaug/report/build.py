"""`build_report(settings, run_id)`: everything one run did, on one page.

Reads only what the stages left in the lake (validation ledger, augmentation stats,
the model artifact with metrics, gate and export records, deploy records, manifests)
plus the per-task records the orchestrator wrote, so it works for Airflow runs and
for runs driven by the CLI or DVC (then without task timings). Writes
`reports/<run>/report.html` (self-contained, figures inlined), `report.md` (figures in
`plots/`), and `metrics.json` + `plots/ranking.csv` for `dvc metrics/plots`.
"""

from __future__ import annotations

import csv
import io as _io
import json
import logging
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from recaug import io
from recaug.orchestrate.runs import TaskRecord, read_records, read_run_info, run_timing
from recaug.report import plots
from recaug.report.document import Card, Code, Details, Figure, Section, Table, to_html, to_markdown

log = logging.getLogger(__name__)

SLICES = ("overall", "cold_items", "cold_users")
HEADLINE = ("hr@10", "ndcg@10")


class ReportResult(BaseModel):
    run_id: str
    html: str
    markdown: str
    metrics: str = Field(description="flat headline metrics for `dvc metrics show`")
    sections: list[str]
    timing: dict[str, Any] | None = None


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted key, scalar) rows; long lists are summarised."""
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) and len(value) <= 8:
            return [(prefix, ", ".join(map(str, value)))]
        return [(prefix, f"{len(value)} entries")]
    return [(prefix, value)]


def _read_json(url: str) -> Any:
    return io.read_json(url) if io.exists(url) else None


def _record(records: list[TaskRecord], task_id: str) -> TaskRecord | None:
    return next((r for r in records if r.task_id == task_id), None)


def artifact_dir_for(settings, run_id: str, records: list[TaskRecord]) -> str | None:
    """The model this run trained: the train task's result, else models/<run>/."""
    train = _record(records, "train")
    if train and isinstance(train.result, dict) and train.result.get("artifact_dir"):
        return train.result["artifact_dir"]
    candidate = settings.lake.url("models", run_id)
    return candidate if io.exists(candidate) else None


def _validation_section(settings, records: list[TaskRecord]) -> Section:
    section = Section("Data validation")
    ingest = _record(records, "validate_ingest")
    if ingest and isinstance(ingest.result, dict):
        result = ingest.result
        section.blocks.append(
            f"This run: {len(result.get('accepted', []))} batch(es) accepted, {len(result.get('rejected', []))} "
            f"rejected, {len(result.get('skipped', []))} already processed."
        )
        if result.get("curated_rows"):
            section.blocks.append(Table(["curated table", "rows"], [[k, v] for k, v in sorted(result["curated_rows"].items())]))
    ledger = _read_json(settings.lake.url("state", "batches.json"))
    batches = (ledger or {}).get("batches", {})
    for name, batch in sorted(batches.items()):
        if batch.get("status") == "rejected" and (docs := _data_docs(settings, batch.get("location", ""))):
            section.blocks.append(f"Batch {name} was quarantined ({batch.get('failures', 0)} rules broken): "
                                  f"[Great Expectations data docs]({docs}), report in `{batch.get('location')}/`.")
    if batches:
        rows = [[name, b.get("status"), b.get("location"), b.get("failures", 0), b.get("processed_at")] for name, b in sorted(batches.items())]
        section.blocks.append(Details(f"All {len(rows)} batches of this lake", [
            Table(["batch", "status", "location", "rules broken", "processed at"], rows)]))
    if not section.blocks:
        section.blocks.append("No batches have been ingested into this lake.")
    return section


def _data_docs(settings, location: str) -> str | None:
    """Link from reports/<run>/report.html to the GX data docs of a quarantined batch."""
    if not location:
        return None
    fs, path = io.filesystem(settings.lake.url(*location.split("/")))
    found = sorted(fs.glob(f"{path}/*/index.html")) if fs.exists(path) else []
    return f"../../{location}/{found[0].rsplit('/', 2)[-2]}/index.html" if found else None


def _stats_section(title: str, url: str, missing: str) -> Section:
    """Augmentation stats: one row per generation task (items, profiles, interactions)
    when the stats are broken down that way, then the remaining scalars."""
    data = _read_json(url)
    if data is None:
        return Section(title, [missing])
    blocks: list = []
    tasks = {k: v for k, v in data.items() if isinstance(v, dict) and "task" in v} if isinstance(data, dict) else {}
    if tasks:
        columns = [c for c in ("outputs", "budget", "llm_prompts", "cache_hits", "deferred", "fallbacks", "template",
                               "invalid_outputs", "llm_seconds", "seconds") if any(c in v for v in tasks.values())]
        blocks.append(Table(["task", *[c.replace("llm_", "LLM ").replace("_", " ") for c in columns]],
                            [[name, *[_seconds(c, v.get(c)) for c in columns]] for name, v in tasks.items()]))
        data = {k: v for k, v in data.items() if k not in tasks}
    blocks.append(Details(f"All statistics (from `{url}`)", [Table(["statistic", "value"], [list(row) for row in flatten(data)])]))
    return Section(title, blocks)


def _seconds(column: str, value: Any) -> Any:
    return f"{value:.1f}" if column.endswith("seconds") and isinstance(value, (int, float)) else value


def _evaluation_slices(value: Any) -> dict[str, dict[str, float]] | None:
    """{slice: {metric: value}} out of an evaluation block, whichever way it is nested."""
    if not isinstance(value, dict):
        return None
    if "test" in value and isinstance(value["test"], dict):
        value = value["test"]
    slices = {name: value[name] for name in SLICES if isinstance(value.get(name), dict)}
    return slices or None


def _metric_names(slices: dict[str, dict[str, float]]) -> list[str]:
    names = [k for k, v in slices.get("overall", {}).items() if isinstance(v, (int, float)) and "@" in k]
    return sorted(names, key=lambda k: (k.split("@")[0], int(k.split("@")[1]) if k.split("@")[1].isdigit() else 0))


def _model_section(artifact_dir: str | None) -> tuple[Section, dict[str, dict[str, dict[str, float]]], list[Figure]]:
    """Metrics of the model, its baselines and the live model, as tables and bar charts."""
    section = Section("Model quality: this run's model vs the live model and baselines")
    figures: list[Figure] = []
    models: dict[str, dict[str, dict[str, float]]] = {}
    if artifact_dir is None:
        section.blocks.append("No model was trained in this run.")
        return section, models, figures
    metrics = _read_json(io.join(artifact_dir, "metrics.json")) or {}
    gate = _read_json(io.join(artifact_dir, "gate.json"))
    params = _read_json(io.join(artifact_dir, "params.json")) or {}
    name = str(params.get("model_type") or "model") + " (this run)"
    if slices := _evaluation_slices(metrics):
        models[name] = slices
    for base_name, block in (metrics.get("baselines") or {}).items():
        if slices := _evaluation_slices(block):
            models[base_name] = slices
    section.blocks.append(f"Artifact: `{artifact_dir}`; split: {metrics.get('split', 'unknown')}; test set, full ranking.")
    if not models:
        section.blocks.append("metrics.json has no evaluation yet.")
    bar_panels: list[tuple[str, list[str], dict[str, list[float]]]] = []
    for slice_name in SLICES:
        present = {m: s[slice_name] for m, s in models.items() if slice_name in s}
        if not present:
            continue
        columns = _metric_names({"overall": next(iter(present.values()))})
        cases = next(iter(present.values())).get("cases")
        section.blocks.append(f"**{slice_name.replace('_', ' ')}**" + (f" ({cases} test cases)" if cases is not None else ""))
        section.blocks.append(Table(["model", *columns], [[m, *[v.get(c) for c in columns]] for m, v in present.items()]))
        headline = [c for c in columns if c in HEADLINE] or columns[:4]
        if headline:
            bar_panels.append((f"{slice_name.replace('_', ' ')} ({cases} cases)" if cases is not None else slice_name,
                               headline, {m: [float(v.get(c) or 0.0) for c in headline] for m, v in present.items()}))
    if bar_panels:
        figure = Figure("Test metrics by slice (full ranking)", plots.bar_panels("Test set", bar_panels, "score (0-1)"),
                        "test_metrics.png")
        section.blocks.append(figure)
        figures.append(figure)
    history = metrics.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict) and (groups := _curve_panels(history)):
        xs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
        figure = Figure("Training curve per epoch", plots.panels("Training", xs, "epoch", groups), "training_curve.png")
        section.blocks.append(figure)
        figures.append(figure)
    if boost := metrics.get("cold_boost"):
        section.blocks.append(_cold_boost_text(boost))
    if curve := metrics.get("mmr"):
        section.blocks += _mmr_blocks(curve)
    if gate:
        section.blocks += _gate_blocks(gate)
    export = _read_json(io.join(artifact_dir, "export.json"))
    if export:
        parity = [list(r) for r in flatten(export) if "parity" in r[0] or r[0] in ("opset", "onnx_sha256", "top_k")]
        section.blocks.append(Details("ONNX export and parity with torch", [Table(["field", "value"], parity[:30])]))
    return section, models, figures


CURVE_PANELS = (  # (panel, y label, which history keys)
    ("Training loss", "loss (cross-entropy)", lambda k: "loss" in k),
    ("Validation", "score", lambda k: k.startswith("valid_")),
    ("Pruned augmented samples", "samples per epoch", lambda k: "pruned" in k),
    ("Epoch time", "seconds", lambda k: k in ("seconds", "epoch_seconds")),
)


def _curve_panels(history: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, list[float]]]]:
    """One panel per unit: loss, validation scores, counts and seconds each get their own axis."""
    keys = [k for k, v in history[0].items() if isinstance(v, (int, float)) and k != "epoch"]
    groups = []
    for title, ylabel, wanted in CURVE_PANELS:
        series = {k: [h.get(k) for h in history] for k in keys if wanted(k)}
        if series:
            groups.append((title, ylabel, series))
    return groups


def _cold_boost_text(boost: dict[str, Any]) -> str:
    """What the cold-item boost chosen on validation cases did, in words."""
    none = (boost.get("candidates") or [{}])[0]
    reference = boost.get("reference_cold_hr@10")
    return (f"**Cold-item boost** (items under {boost.get('cold_count')} fitted events, chosen on validation cases): "
            f"bias {boost.get('bias')}, text-similarity weight {boost.get('similarity')}; validation NDCG@10 "
            f"{none.get('valid_ndcg@10', float('nan')):.4f} -> {boost.get('valid_ndcg@10', float('nan')):.4f}, "
            f"cold-item HR@10 {none.get('valid_cold_hr@10', float('nan')):.4f} -> "
            f"{boost.get('valid_cold_hr@10', float('nan')):.4f}"
            + (f" (aim {reference:.4f})" if reference is not None else "") + ".")


def _mmr_blocks(curve: dict[str, Any]) -> list:
    """The diversity default chosen on validation, in words, and the trade-off per weight."""
    k, chosen = curve.get("k", 10), curve.get("chosen_weight")
    rows = {split: {row["weight"]: row for row in curve.get(split) or []} for split in ("valid", "test")}
    plain, picked = rows["valid"].get(0.0, {}), rows["valid"].get(chosen, {})

    def change(name: str) -> str:
        return f"{name}@{k} {plain.get(f'{name}@{k}', float('nan')):.4f} -> {picked.get(f'{name}@{k}', float('nan')):.4f}"

    text = (f"**Diversity (MMR over the top {curve.get('candidates')} candidates):** requests without `diversity` are "
            f"re-ranked with weight {chosen:g}, the largest whose validation NDCG@{k} stays within "
            f"{100 * curve.get('max_ndcg_loss', 0):g}% of weight 0's; on validation {change('ndcg')}, "
            f"{change('diversity')}, {change('coverage')}.")
    columns = [f"{name}@{k}" for name in ("ndcg", "recall", "diversity", "coverage")]
    table = Table(["MMR weight", *[f"validation {c}" for c in columns], *[f"test {c}" for c in columns]],
                  [[f"{weight:g}" + (" (default)" if weight == chosen else ""),
                    *[rows["valid"][weight].get(c) for c in columns],
                    *[rows["test"].get(weight, {}).get(c) for c in columns]] for weight in rows["valid"]])
    return [text, Details(f"Accuracy vs diversity for {len(rows['valid'])} MMR weights", [table])]


def _gate_blocks(gate: dict[str, Any]) -> list:
    """Challenger vs the live model on the gate's metric, and the proposal in words (the
    gate proposes; only the deploy section says what went live)."""
    verdict = "propose for deploy" if gate.get("deploy") else "keep the live model"
    blocks: list = [f"**Gate decision: {verdict}.** {gate.get('reason', '')}"]
    if gate.get("champion_source"):
        blocks.append(f"Compared against: {gate['champion_source']}.")
    metric = gate.get("metric", "metric")
    rows = [["challenger (this run)", gate.get("challenger_run"), gate.get("challenger_value")]]
    if gate.get("champion_run") is not None:
        version = gate.get("champion_version")
        label = "live model" + (f" v{version}" if version is not None else "")
        rows.append([label + (" (re-evaluated on today's data)" if gate.get("champion_reevaluated") else ""),
                     gate.get("champion_run"), gate.get("champion_value")])
    blocks.append(Table(["model", "run", f"{metric} (tolerance {gate.get('tolerance')})"], rows))
    if floors := gate.get("floors"):
        blocks.append(Table(["floor (validation top lists)", "challenger", "floor", "result"], [
            [f"{f['metric']} at MMR weight {f['mmr_weight']:g}", f.get("value"), f["floor"],
             "not measured" if f.get("passed") is None else "met" if f["passed"] else
             f"missed by {f['floor'] - f['value']:.4f}"] for f in floors]))
    return blocks


def _live_sentence(settings) -> str:
    """What serves now, from the one source of truth (the last successful deploy record)."""
    from recaug.deploy.deploy import live_record

    live = live_record(settings)
    if live is None:
        return "No model is live: no deploy of this lake has succeeded yet."
    return (f"Live now: {live.model_name} version {live.version} from `{live.artifact_dir}` "
            f"(deployed {live.deployed_at}).")


def _deploy_section(settings, run_id: str, artifact_dir: str | None, records: list[TaskRecord]) -> Section:
    section = Section("Deploy")
    deploy = _record(records, "deploy")
    if deploy and isinstance(deploy.result, dict):
        section.blocks += [_live_sentence(settings),
                           Details("Deploy task result", [Table(["field", "value"], [list(r) for r in flatten(deploy.result)])])]
        return section
    folder = settings.lake.url("deploy", "records")
    fs, path = io.filesystem(folder)
    names = sorted(fs.ls(path, detail=False)) if fs.exists(path) else []
    mine = [n for n in names if run_id in n or (artifact_dir and artifact_dir in io.read_text(f"{folder}/{n.rsplit('/', 1)[-1]}"))]
    if mine:
        record = io.read_json(f"{folder}/{mine[-1].rsplit('/', 1)[-1]}")
        section.blocks.append(Details(f"Deploy record `{mine[-1].rsplit('/', 1)[-1]}`",
                                      [Table(["field", "value"], [list(r) for r in flatten(record)])]))
    else:
        section.blocks.append("Nothing was deployed by this run (gate not passed, deploy disabled, or model already "
                              "serving), so nothing was promoted.")
        if names:
            section.blocks.append(f"Latest deploy record in the lake: `{names[-1].rsplit('/', 1)[-1]}`.")
    section.blocks.append(_live_sentence(settings))
    return section


def _versions_section(settings, run_id: str, artifact_dir: str | None) -> Section:
    section = Section("Data and model versions")
    manifest = _read_json(settings.lake.url("manifests", f"{run_id}.json"))
    if manifest:
        section.blocks.append(Details(f"Manifest `manifests/{run_id}.json`",
                                      [Table(["entry", "value"], [list(r) for r in flatten(manifest)][:60])]))
    if artifact_dir:
        versions = _read_json(io.join(artifact_dir, "data_versions.json"))
        if versions:
            section.blocks.append(Details("Data the model was trained on",
                                          [Table(["entry", "value"], [list(r) for r in flatten(versions)][:60])]))
        params = _read_json(io.join(artifact_dir, "params.json"))
        if params:
            section.blocks.append(Details("Model parameters", [Code(json.dumps(params, indent=2, default=str)[:6000])]))
    if not section.blocks:
        section.blocks.append("No manifest or model versions recorded for this run.")
    return section


def _timing_section(settings, run_id: str, records: list[TaskRecord]) -> tuple[Section, dict[str, Any] | None, list[Figure]]:
    section = Section("Wall time per task and orchestration overhead")
    info = read_run_info(settings.lake, run_id)
    timed = [r for r in records if r.task_id != "report"]
    timing = run_timing(timed, started_at=info.started_at if info else None,
                        ended_at=_record(records, "report").started_at if _record(records, "report") else None)
    if timing is None:
        section.blocks.append("No task timings: this run was not orchestrated (CLI or DVC).")
        return section, None, []
    if info:
        section.blocks.append(f"Orchestrator: {info.orchestrator} DAG `{info.dag_id}`, run `{info.orchestrator_run_id}` ({info.run_type}).")
    section.blocks.append(
        f"Wall time {timing.wall_seconds:.1f} s; task compute {timing.compute_seconds:.1f} s; orchestration overhead "
        f"{timing.overhead_seconds:.1f} s = {timing.overhead_ratio:.0%} of wall time (scheduling, task start-up, imports, XCom)."
    )
    rows = [[r.key, r.status, r.try_number, round(r.compute_seconds, 2), r.started_at.strftime("%H:%M:%S")] for r in timed]
    section.blocks.append(Details("Every task", [Table(["task", "status", "try", "compute s", "started (UTC)"], rows)]))
    figure = Figure("Compute seconds per task", plots.horizontal_bars("Compute per task", list(timing.per_task),
                                                                       list(timing.per_task.values()), "seconds"), "task_times.png")
    section.blocks.append(figure)
    return section, timing.model_dump(mode="json"), [figure]


def _headline_metrics(models: dict[str, dict[str, dict[str, float]]], timing: dict[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for model, slices in models.items():
        key = "model" if model.endswith("(this run)") else model
        for slice_name, values in slices.items():
            for metric, value in values.items():
                if isinstance(value, (int, float)) and "@" in metric:
                    flat.setdefault(key, {}).setdefault(slice_name, {})[metric] = value
    if timing:
        flat["timing"] = {k: timing[k] for k in ("wall_seconds", "compute_seconds", "overhead_ratio")}
    return flat


def _ranking_csv(models: dict[str, dict[str, dict[str, float]]]) -> str:
    """HR and NDCG at every K of this run's model: the table `dvc plots` draws."""
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["k", "hr", "ndcg"])
    overall = next((s.get("overall", {}) for name, s in models.items() if name.endswith("(this run)")), {})
    for k in sorted({int(m.split("@")[1]) for m in overall if "@" in m and m.split("@")[1].isdigit()}):
        writer.writerow([k, overall.get(f"hr@{k}"), overall.get(f"ndcg@{k}")])
    return buf.getvalue()


def _delta(new: Any, old: Any) -> str:
    """+0.0123 / −0.0050 (a true minus sign, so the HTML colours it), or – when unknown."""
    if not isinstance(new, (int, float)) or not isinstance(old, (int, float)):
        return "–"
    change = float(new) - float(old)
    return f"+{change:.4f}" if change >= 0 else f"−{abs(change):.4f}"


def _decision(gate: dict | None, deployed: dict | None, trained: bool) -> tuple[str, str, str]:
    """(decision, tone, why) for the summary card: what went live, or why nothing did."""
    gate_reason = f"Gate: {gate.get('reason')}." if gate else ""
    if not trained:
        return "No model was trained in this run", "neutral", "Nothing to deploy; the live model is unchanged."
    outcome = (deployed or {}).get("outcome") or ("deployed" if (deployed or {}).get("version") is not None else None)
    if outcome == "deployed":
        return (f"Deployed: {deployed.get('model_name', 'the model')} version {deployed.get('version')} is live",
                "good", gate_reason)
    if outcome == "rejected":
        return (f"Not deployed: the deploy failed at {deployed.get('stage') or 'its checks'} and was rolled back", "bad",
                f"{deployed.get('reason', '')} The previous live model keeps serving.".strip())
    if outcome == "unchanged":
        return "Not deployed: this model already serves", "neutral", gate_reason
    if gate and not gate.get("deploy"):
        return "Not deployed: the gate kept the live model", "neutral", gate_reason
    if gate:
        return ("Not deployed: approved by the gate, but no deploy ran", "neutral",
                f"{gate_reason} Deploy was disabled for this run or its task did not run; the live model is unchanged.")
    return "Not deployed: no gate decision was recorded", "neutral", "The live model is unchanged."


def _batch_span(names: list[str], shown: int = 3) -> str:
    """Batch names for the card: all of a few, else the first ones and the last (the full
    list is in the details below), so a first run over 30 daily batches stays one line."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, … {names[-1]}"


def _what_changed(settings, records: list[TaskRecord]) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    ingest = _record(records, "validate_ingest")
    if ingest and isinstance(ingest.result, dict):
        result = ingest.result
        accepted, rejected = result.get("accepted", []), result.get("rejected", [])
        rows = ", ".join(f"{table} {count:,}" for table, count in sorted((result.get("curated_rows") or {}).items()))
        facts.append(("New data", f"{len(accepted)} batch(es) accepted" + (f" ({_batch_span(accepted)})" if accepted else "")
                      + f", {len(rejected)} rejected" + (f" ({_batch_span(rejected)})" if rejected else "")
                      + (f"; curated rows now: {rows}" if rows else "")))
    stats = _read_json(settings.lake.url("augment", "stats.json"))
    if isinstance(stats, dict) and stats.get("enabled", True) and isinstance(stats.get("items"), dict):
        tasks = [stats.get(k) or {} for k in ("items", "profiles", "interactions")]
        facts.append(("Augmentation", f"{tasks[0].get('outputs', 0)} item texts, {tasks[1].get('outputs', 0)} user "
                      f"profiles, {tasks[2].get('rows', 0)} augmented interactions; "
                      f"{sum(t.get('llm_prompts', 0) for t in tasks)} LLM prompts, "
                      f"{stats.get('cache_hits', 0)} answers from the cache, "
                      f"{sum(t.get('deferred', 0) for t in tasks)} deferred to a later run"))
    facts.append(("Serving", _live_sentence(settings)))
    return facts


def _champion_metrics(settings, gate: dict | None) -> dict[str, dict[str, float]]:
    """Test metrics of the live model the gate compared against (its own evaluation)."""
    from recaug.deploy.deploy import list_records

    if not gate or gate.get("champion_version") is None:
        return {}
    record = next((r for r in list_records(settings) if r.version == gate["champion_version"] and r.outcome == "deployed"), None)
    metrics = _read_json(io.join(record.artifact_dir, "metrics.json")) if record else None
    return _evaluation_slices(metrics) or {}


def _headline_table(settings, gate: dict | None, models: dict[str, dict[str, dict[str, float]]]) -> Table | None:
    mine = next((s for name, s in models.items() if name.endswith("(this run)")), None)
    if mine is None and not gate:
        return None
    champion = _champion_metrics(settings, gate)
    label = f"live model v{gate['champion_version']}" if gate and gate.get("champion_version") is not None else "live model"
    rows = []
    if gate:
        rows.append([f"{gate.get('metric')} (validation, the gate's metric)", gate.get("challenger_value"),
                     gate.get("champion_value"), _delta(gate.get("challenger_value"), gate.get("champion_value"))])
    for slice_name in ("overall", "cold_items"):
        for metric in HEADLINE:
            new = (mine or {}).get(slice_name, {}).get(metric)
            old = champion.get(slice_name, {}).get(metric)
            if new is not None:
                rows.append([f"{metric} (test, {slice_name.replace('_', ' ')})", new, old, _delta(new, old)])
    return Table(["metric", "this run", label, "change"], rows)


def _summary_card(settings, records: list[TaskRecord], artifact_dir: str | None,
                  models: dict[str, dict[str, dict[str, float]]]) -> Card:
    gate = _read_json(io.join(artifact_dir, "gate.json")) if artifact_dir else None
    deploy = _record(records, "deploy")
    deployed = deploy.result if deploy and isinstance(deploy.result, dict) else None
    decision, tone, why = _decision(gate, deployed, artifact_dir is not None)
    return Card(decision, tone, why, _what_changed(settings, records), _headline_table(settings, gate, models))


def _lake_relative(text: str, roots: list[str]) -> str:
    for root in roots:
        text = text.replace(root + "/", "").replace(root, ".")
    return text


def _relative_blocks(blocks: list, roots: list[str]) -> list:
    """The same blocks with every lake path written relative to the lake root."""
    out = []
    for block in blocks:
        if isinstance(block, str):
            out.append(_lake_relative(block, roots))
        elif isinstance(block, Table):
            out.append(Table(block.headers, [[_lake_relative(c, roots) if isinstance(c, str) else c for c in row]
                                             for row in block.rows]))
        elif isinstance(block, Code):
            out.append(Code(_lake_relative(block.text, roots)))
        elif isinstance(block, Details):
            out.append(Details(_lake_relative(block.summary, roots), _relative_blocks(block.blocks, roots)))
        else:
            out.append(block)
    return out


def lake_roots(lake_root: str) -> list[str]:
    """Every spelling of the lake root a record may hold, longest first."""
    import os

    spellings = {lake_root.rstrip("/")}
    if "://" not in lake_root:
        spellings |= {os.path.realpath(lake_root), os.path.abspath(lake_root), f"file://{lake_root.rstrip('/')}"}
    return sorted(spellings, key=len, reverse=True)


def build_report(settings, run_id: str | None = None) -> ReportResult:
    """Write reports/<run>/report.{html,md}, metrics.json and plots/ for one run."""
    run_id = run_id or settings.run_id
    if not run_id:
        from recaug.errors import ConfigError

        raise ConfigError("report: no run id; pass --run-id (see `ls <lake>/reports`)")
    lake = settings.lake
    records = read_records(lake, run_id)
    artifact_dir = artifact_dir_for(settings, run_id, records)
    model_section, models, figures = _model_section(artifact_dir)
    timing_section, timing, timing_figures = _timing_section(settings, run_id, records)
    sections = [
        _validation_section(settings, records),
        _stats_section("Augmentation", lake.url("augment", "stats.json"), "No augmentation statistics (augmentation off or not run)."),
        model_section,
        _deploy_section(settings, run_id, artifact_dir, records),
        _versions_section(settings, run_id, artifact_dir),
        timing_section,
    ]
    title = f"recaug run {run_id}"
    sections[-1].blocks.append(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC. "
                               "Paths are relative to the lake root.")
    roots = lake_roots(lake.root)
    sections = [Section(s.title, _relative_blocks(s.blocks, roots)) for s in sections]
    card = _summary_card(settings, records, artifact_dir, models)
    card = Card(_lake_relative(card.decision, roots), card.tone, _lake_relative(card.reason, roots),
                [(label, _lake_relative(value, roots)) for label, value in card.facts],
                card.metrics)
    folder = lake.url("reports", run_id)
    for figure in figures + timing_figures:
        io.write_bytes(io.join(folder, "plots", figure.filename), figure.png)
    io.write_text(io.join(folder, "plots", "ranking.csv"), _ranking_csv(models))
    io.write_json(io.join(folder, "metrics.json"), _headline_metrics(models, timing))
    io.write_text(io.join(folder, "report.md"), to_markdown(title, card, sections))
    io.write_text(io.join(folder, "report.html"), to_html(title, card, sections))
    log.info("report for run %s: %s", run_id, io.join(folder, "report.html"))
    return ReportResult(
        run_id=run_id, html=io.join(folder, "report.html"), markdown=io.join(folder, "report.md"),
        metrics=io.join(folder, "metrics.json"), sections=["Summary", *[s.title for s in sections]], timing=timing,
    )
