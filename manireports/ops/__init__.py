"""Operating manireports: cron job history and alerts, health checks, backups of definitions."""
