# nub::guest and nub_add_guest() for guests built against an installed nub.
# The runtime is a freestanding static library; a guest is a static PIE
# without libc, built with the same flags the runtime was.
# NUB_INCLUDE_DIR and NUB_GUEST_LIB_DIR come from nubConfig.cmake (relative
# to wherever the package was installed).
if(NOT TARGET nub::guest)
  add_library(nub::guest STATIC IMPORTED)
  set_target_properties(nub::guest PROPERTIES
    IMPORTED_LOCATION "${NUB_GUEST_LIB_DIR}/libnubguest.a"
    INTERFACE_INCLUDE_DIRECTORIES "${NUB_INCLUDE_DIR}/nub/guest;${NUB_INCLUDE_DIR}"
    INTERFACE_COMPILE_OPTIONS "@NUB_GUEST_CFLAGS_LIST@"
    INTERFACE_LINK_OPTIONS "@NUB_GUEST_LINK_OPTIONS_LIST@"
    INTERFACE_LINK_LIBRARIES "gcc")
endif()

# nub_add_guest(<name> <sources...>): <name>.elf in the current binary dir.
function(nub_add_guest name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE nub::guest)
  set_target_properties(${name} PROPERTIES SUFFIX ".elf" POSITION_INDEPENDENT_CODE OFF)
endfunction()

# nub::guest-libc and nub_add_libc_guest(): guests with the C library
# (Debian's musl, package musl-dev, linked into the guest; the runtime
# serves its system calls). Present when nub was built with musl-dev.
if(EXISTS "${NUB_GUEST_LIB_DIR}/libnubguest-libc.a" AND NOT TARGET nub::guest-libc)
  add_library(nub::guest-libc STATIC IMPORTED)
  set_target_properties(nub::guest-libc PROPERTIES
    IMPORTED_LOCATION "${NUB_GUEST_LIB_DIR}/libnubguest-libc.a"
    INTERFACE_INCLUDE_DIRECTORIES "${NUB_INCLUDE_DIR}/nub/guest;${NUB_INCLUDE_DIR}"
    # -nostdinc drops the system include directory, where nub's headers may
    # be (CMake drops a -I for it too): -idirafter finds them after musl's.
    INTERFACE_COMPILE_OPTIONS "@NUB_GUEST_LIBC_CFLAGS_LIST@;SHELL:-idirafter ${NUB_INCLUDE_DIR}"
    INTERFACE_LINK_OPTIONS "@NUB_GUEST_LINK_OPTIONS_LIST@"
    INTERFACE_LINK_LIBRARIES "@NUB_MUSL_DIR@/libc.a;gcc")
endif()

# nub_add_libc_guest(<name> <sources...>): <name>.elf in the current binary dir.
function(nub_add_libc_guest name)
  if(NOT TARGET nub::guest-libc)
    message(FATAL_ERROR "nub was built without musl-dev: no C library guests")
  endif()
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE nub::guest-libc)
  set_target_properties(${name} PROPERTIES SUFFIX ".elf" POSITION_INDEPENDENT_CODE OFF)
endfunction()
