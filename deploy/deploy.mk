# Targets for deploy/: rule tests, generated manifests, the end-to-end test.
.PHONY: test-deploy
test-deploy:
	@echo "deploy tests: not yet (issue 5)"
