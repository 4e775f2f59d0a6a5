"""The API of subscriptions, invoices (PDF included), bill runs, credit notes, balances,
coupons and discounts."""
