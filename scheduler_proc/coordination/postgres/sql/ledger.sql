-- ledger: see /work/notes/pg-design.md (filled in by its branch)
SELECT 1;
