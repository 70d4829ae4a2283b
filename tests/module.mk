# tests: filled in below
