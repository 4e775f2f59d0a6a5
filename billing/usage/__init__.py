"""Usage metering: ingestion (`input`, `services`), the aggregates and their storage (`store`,
`storage`: partitions, archive), alerts, and usage pricing (`pricing`); the API of events and
alerts. Invoice lines of usage are made by `billing.invoicing.services.usage_lines`."""
