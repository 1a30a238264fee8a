"""Real monolingual corpora (8 languages) and gold lexicons built offline from registry packages."""
