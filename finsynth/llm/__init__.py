"""The LLM engine: any OpenAI-compatible endpoint, with a response cache, transport retries and validation re-asks. \
It imports nothing from the domain: callers bring a validator and a re-ask."""
