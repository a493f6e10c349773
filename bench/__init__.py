"""`secondlook bench`: performance measured side by side in one run, reported as ratios."""
