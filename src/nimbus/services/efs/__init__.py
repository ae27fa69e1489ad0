"""Amazon EFS: file systems (control plane)."""
