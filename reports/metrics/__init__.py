"""SaaS metrics (MRR, ARR, MRR movements and churn/retention rates): pure, Decimal-only
functions on plain values. `mrr` turns a subscription's terms at an instant into its monthly
recurring revenue; `movements` classifies each customer's MRR change per month (new,
expansion, contraction, churn, reactivation) and derives the rates. No database here: the
selectors of `reports` feed plain values in, one currency at a time."""
