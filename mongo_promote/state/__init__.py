"""What a run shares and records: its context, the Step shape, journal, lock, report and history."""
