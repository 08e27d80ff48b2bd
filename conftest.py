"""pytest collects the tests in tests/ and, through nbval, the solved notebooks.

The student versions in notebooks/student/ have exercises left to fill in, so they are not run.
"""

collect_ignore = ["notebooks/student", "benchmarks", "tools"]
