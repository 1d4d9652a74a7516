"""ToolScale domains: schema inference, derived tools, task generation, official tasks, synthesis."""
