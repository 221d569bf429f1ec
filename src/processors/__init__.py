"""Stream processors: the Faust app and its agents."""
