"""Operations: logs, audit events, metrics, health."""
