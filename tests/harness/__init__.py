"""What tests share: free ports, waiting with logs on failure, real processes."""
