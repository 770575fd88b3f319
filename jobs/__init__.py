"""The cron jobs: each runs under its own lock so an overlapping run exits at once. The work
only cron does (pre-building cached reports, storing the SCORM summary) is here too.

Cron etiquette (borgmatic's): silence on success unless -v, a non-zero exit on failure, never a
prompt. `crontab.example` has every job at its recommended schedule.
"""
