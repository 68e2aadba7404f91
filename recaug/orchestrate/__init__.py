"""Run bookkeeping shared by every orchestrator (Airflow, the demo, the report):
run ids that are safe as folder names and per-task timing records in the lake."""
