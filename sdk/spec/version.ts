/**
 * The version of the pipeline spec's schema, stamped on every run the SDK starts (`PipelineRunInput.specVersion`).
 * A run whose spec carries this release's version was parsed by this very schema, so the workflow uses it as it
 * is, without loading zod into its sandbox; any other run (started by an older release, by hand, or by a newer
 * client) is parsed again, which fills in the defaults added since and refuses a malformed spec. Change it
 * whenever the spec's schema changes: `test/unit/spec-version.test.ts` fails with the new value when it should.
 */
export const SPEC_VERSION = '7da53654ca466a2e';
