"""Revenue recognition (ASC 606 / IFRS 15): pure functions that turn an invoice line's amount
and service period into a monthly recognition schedule with cumulative rounding, reverse
credit notes against what is still deferred, and build waterfall and roll-forward figures.
No database here; the services and selectors of `reports` feed it plain values."""
