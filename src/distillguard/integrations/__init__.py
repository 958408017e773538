"""distillguard inside proxies users already run: Envoy (ext_authz), LiteLLM (guardrail)."""
