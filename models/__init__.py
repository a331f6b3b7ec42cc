"""Actor models: manifests (consent, licences, hashes) and swapper backends."""
