"""The layer between the rule table and the value types: dispatch by tag, NumPy's interface."""
