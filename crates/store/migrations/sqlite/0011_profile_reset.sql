-- When a capacity profile's use comes back: NULL minutes is on release (the default); otherwise periods of
-- `reset_minutes` (a divisor of 1440) of local time from midnight in `reset_time_zone` (an IANA name).
ALTER TABLE capacity_profiles ADD COLUMN reset_minutes BIGINT;
ALTER TABLE capacity_profiles ADD COLUMN reset_time_zone TEXT;
