"""The billing event log (append-only, in the transaction of the change it records), the
consumers queued when it commits and the in-process handlers apps above billing register;
plus what every billing package shares: bulk row writes (`rows`) and admin mixins."""
