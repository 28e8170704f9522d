"""General fields: the data points a message holds (dates, amounts, phone numbers,
references...), found by built-in kinds (``kinds``) and named by the team (``fields``)."""
