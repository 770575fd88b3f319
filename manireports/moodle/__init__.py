"""Knowledge of Moodle's own database: its table definitions and how Moodle lays them out."""
