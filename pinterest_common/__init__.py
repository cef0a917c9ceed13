"""Code shared by every component: configuration, the event schema and the cleaning rules."""
