"""Identity and access: who may do what (the policy engine grows here)."""
