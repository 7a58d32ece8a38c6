"""What a promotion is about, without a server: the plan, the inventory and its analysis, the transforms."""
