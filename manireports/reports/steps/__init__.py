"""The built-in reports whose rows need Python beside their SQL: parameters bound in code, rows
transformed or produced after the query. The catalogue (reports.builtin) lists them all."""
