"""The competition: challenges, submissions, scoring and leaderboards."""
