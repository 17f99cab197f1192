"""Offline backlogs on a Ray cluster (`alphamatte batch IN OUT --ray`).

Ray Data schedules, streams and retries; this package only says what each stage does:

    listing (tasks, one per first-level folder)  ->  read + decode (tasks)
        ->  the model (an actor pool: loaded once per actor)  ->  full size + encode + write
        ->  a manifest line per photo, written by the driver as results stream back

Everything here except :mod:`alphamatte.bulk.job` and :mod:`alphamatte.bulk.cluster` runs
without Ray, so the stages are unit-tested as plain functions.
"""
