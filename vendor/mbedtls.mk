# Builds mbedtls's library/*.c into one archive. Called by the top Makefile
# with OUT, CC, CFLAGS, CONFIG (our config header), SRCDIR and LIB; kept apart so the -j jobs of the main
# build can share it.
MBED_SRC_LIST := $(wildcard $(SRCDIR)/*.c)
MBED_OBJ_LIST := $(patsubst $(SRCDIR)/%.c,$(OUT)/%.o,$(MBED_SRC_LIST))
$(LIB): $(MBED_OBJ_LIST)
	@rm -f $@
	@ar rcs $@ $(MBED_OBJ_LIST)
$(OUT)/%.o: $(SRCDIR)/%.c $(CONFIG)
	@$(CC) $(CFLAGS) -DMBEDTLS_CONFIG_FILE='"$(CONFIG)"' -c $< -o $@
