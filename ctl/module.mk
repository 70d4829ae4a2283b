# ctl: filled in below
