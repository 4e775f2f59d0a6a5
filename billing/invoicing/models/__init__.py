"""Invoices and lines, bill runs, number sequences; credit notes, balance, coupons; SLA credits."""
