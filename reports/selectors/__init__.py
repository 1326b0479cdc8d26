"""Report figures, computed in the database: each function takes the deals (or activities)
already narrowed to the user's scope and filters (reports/scope.py) and returns plain data."""
