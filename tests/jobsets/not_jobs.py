jobs = ["not", "a", "Jobs"]
