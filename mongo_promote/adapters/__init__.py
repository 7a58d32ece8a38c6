"""What the tool talks to: MongoDB connections and capabilities, dump files, local servers, HTTP health checks, shell commands."""
