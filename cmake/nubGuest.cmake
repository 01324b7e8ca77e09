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
