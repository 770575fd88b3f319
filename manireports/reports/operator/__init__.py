"""Reports the site's operator defines and stores in the state database: SQL written by hand
(custom) and reports built from a configuration (configured). The checks that hold both to the
site's [reports] lists are in manireports.sqlcheck.site."""
