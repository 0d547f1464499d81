/* fuzz_config.c: the configuration loader (config_load) on any YAML: a
 * configuration, or one line per problem naming the file, never a crash.
 * What follows a line "#--- inc.yaml" is written to inc.yaml beside the
 * file, for include:; the load follows only names without '/'
 * (CONFIG_LOAD_INCLUDE_BESIDE), so an input reads no file of the machine. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "redact.h"

#define FUZZ_KEY	"simEXAMPLEfuzzKEY0123456789abcd"
#define FUZZ_SPLIT	"#--- inc.yaml\n"

static char	*config_path;
static char	*config_inc;
static size_t	 config_dirlen;	/* of the directory, with its '/' */

/* A directory like a real one: the file, and key files beside it that
 * the seeds name (dev.key, keys/dev.key, keys/prod.key, 0600) and the
 * environment variables they name. */
static void
fuzz_config_init(void)
{
	char	*keys, *key;

	keys = fuzz_path("keys");
	if (mkdir(keys, 0700) == -1)
		abort();
	key = fuzz_path("keys/dev.key");
	fuzz_write(key, FUZZ_KEY "\n", strlen(FUZZ_KEY) + 1, 0600);
	free(key);
	key = fuzz_path("dev.key");	/* config/example.yaml's */
	fuzz_write(key, FUZZ_KEY "x\n", strlen(FUZZ_KEY) + 2, 0600);
	free(key);
	key = fuzz_path("keys/prod.key");
	fuzz_write(key, FUZZ_KEY "p\n", strlen(FUZZ_KEY) + 2, 0600);
	free(key);
	free(keys);
	setenv("AP_TEST_PROD_KEY", FUZZ_KEY "e", 1);
	setenv("PROD_API_KEY", FUZZ_KEY "f", 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	config_path = fuzz_path("algopromoted.yaml");
	config_inc = fuzz_path("inc.yaml");
	config_dirlen = strlen(config_path) - strlen("algopromoted.yaml");
}

/* Every line of errors is "PATH[:LINE:COL]: text", printable, PATH the
 * file or one beside it (what it includes). */
static void
fuzz_config_errors(const char *errors)
{
	const char	*line, *end, *colon;

	for (line = errors; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		FUZZ_ASSERT(end != NULL, "last line without newline: %s", line);
		colon = memchr(line, ':', (size_t)(end - line));
		FUZZ_ASSERT(colon != NULL && strncmp(line, config_path,
		    config_dirlen) == 0 && memchr(line + config_dirlen, '/',
		    (size_t)(colon - line) - config_dirlen) == NULL,
		    "line does not name a file of the directory: %.*s",
		    (int)(end - line), line);
		for (; line < end; line++)
			FUZZ_ASSERT((unsigned char)*line >= 0x20 &&
			    *line != 0x7f, "control character 0x%02x",
			    (unsigned char)*line);
	}
}

static void
fuzz_config_load(int flags)
{
	struct config	*c = NULL;
	char		*errors = NULL;
	size_t		 i;

	if (config_load(&c, config_path, flags, &errors) == 0) {
		FUZZ_ASSERT(c != NULL, "success without a config");
		FUZZ_ASSERT(errors == NULL, "success with errors: %s",
		    errors);
		FUZZ_ASSERT(c->nfiles >= 1 && c->nfiles <= 2, "%zu files",
		    c->nfiles);
		for (i = 0; i < c->npairs; i++)
			if (c->pairs[i].name != NULL)
				FUZZ_ASSERT(config_pair_find(c,
				    c->pairs[i].name) != NULL, "pair lost");
		for (i = 0; i < c->nclusters; i++)
			FUZZ_ASSERT(config_cluster_find(c,
			    c->clusters[i].name) != NULL, "cluster lost");
		(void)config_ndests(c);
	} else {
		FUZZ_ASSERT(c == NULL, "failure with a config");
		FUZZ_ASSERT(errors != NULL && *errors != '\0',
		    "failure without a message");
	}
	if (errors != NULL)
		fuzz_config_errors(errors);
	free(errors);
	config_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*inc;
	size_t		 n = size;

	if (config_path == NULL)
		fuzz_config_init();
	inc = memmem(data, size, FUZZ_SPLIT, strlen(FUZZ_SPLIT));
	if (inc != NULL) {
		n = (size_t)(inc - data);
		inc += strlen(FUZZ_SPLIT);
		fuzz_write(config_inc, inc, size - (size_t)(inc - data), 0600);
	} else
		unlink(config_inc);
	fuzz_write(config_path, data, n, 0600);
	fuzz_config_load(CONFIG_LOAD_INCLUDE_BESIDE);
	fuzz_config_load(CONFIG_LOAD_INCLUDE_BESIDE | CONFIG_LOAD_SKIP_KEYS);
	/* Keys loaded are registered for redaction: forget them, as the
	 * next input would only add more. */
	redact_clear();
	return 0;
}
