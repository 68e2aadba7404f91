"""Airflow glue for recaug: operators over the stage functions, the nightly DAG's
Params, and the failure callback. Business logic stays in `recaug`."""
