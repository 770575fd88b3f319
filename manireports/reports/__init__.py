"""Reports: the built-in catalogue, parameters, and running a report into an export."""
