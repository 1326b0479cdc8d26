"""What each report page shows: its figures and tables, built from the selectors."""
